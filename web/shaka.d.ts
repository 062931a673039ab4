// Type declarations of shaka.js: the streamlimit adapter for Shaka Player.
import type { AttachOptions, Attachment } from './attach.js';

/** The part of a shaka.Player the adapter uses. */
export interface ShakaPlayerLike {
  getMediaElement(): HTMLMediaElement | null;
}

/** attach() on the player's media element (call player.attach first, or pass options.media). */
export function attachShaka(player: ShakaPlayerLike, options: AttachOptions & { media?: HTMLMediaElement }): Attachment;
