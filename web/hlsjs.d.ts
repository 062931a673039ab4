// Type declarations of hlsjs.js: the streamlimit adapter for hls.js.
import type { AttachOptions, Attachment } from './attach.js';

/** The part of an hls.js instance the adapter uses. */
export interface HlsLike {
  media: HTMLMediaElement | null;
  stopLoad(): void;
  startLoad(startPosition?: number): void;
}

/** attach() on hls.media (call hls.attachMedia first, or pass options.media); loading stops while the lease is gone. */
export function attachHls(hls: HlsLike, options: AttachOptions & { media?: HTMLMediaElement }): Attachment;
