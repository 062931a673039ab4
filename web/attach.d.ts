// Type declarations of attach.js: the streamlimit client driving a media element.
import type { Granted, Options, Refused, StreamLimitClient, StreamLimitError, EventMap } from './streamlimit.js';

/** The overlay's texts (attach's `messages` replaces any of them). */
export interface Messages {
  acquiring: string;
  refused: (refusal: Refused) => string;
  refusedHint: string;
  stop: string;
  retry: string;
  playAgain: string;
  thisDevice: string;
  since: (createdAt: Date) => string;
  kicked: string;
  superseded: string;
  evicted_oldest: string;
  admin: string;
  lease_expired: string;
  lease_lost: string;
  unauthorized: string;
  forbidden: string;
  error: (err: unknown) => string;
  [code: string]: unknown;
}
export const MESSAGES: Messages;

export interface AttachOptions {
  /** The account (or a function returning it, asked at each canStream). */
  uid: string | (() => string);
  /** What plays, shown to the account's other devices (or a function returning it). */
  title?: string | (() => string | undefined);
  /** A client to use; otherwise one is made from baseUrl, token, deviceName and clientOptions. */
  client?: StreamLimitClient;
  baseUrl?: string;
  token?: Options['token'];
  /** This device's name in the label other devices see ("Living room TV"). */
  deviceName?: string;
  clientOptions?: Partial<Options>;
  /** A paused player gives its slot back after this long (5 min); Infinity: never; 0: at once. */
  pausedReleaseMs?: number;
  /** The same while the page is hidden (1 min), counted from the pause. */
  hiddenPausedReleaseMs?: number;
  /**
   * The overlay over the player (refusal with a Stop button per session, why
   * playback stopped): true (default; in the media element's parent),
   * `{ container }`, or false for none (use the events).
   */
  ui?: boolean | { container?: HTMLElement };
  messages?: Partial<Messages>;
  /** Starts playback once granted (the element's own play()). */
  play?: () => Promise<void> | void;
  /** Pauses (media.pause()). */
  pause?: () => void;
  /** Stops loading when the lease is gone (hls.js: hls.stopLoad()). */
  halt?: () => void;
  /** Starts loading again on the next grant (hls.js: hls.startLoad()). */
  resume?: () => void;
  /** Where visibilitychange is listened for (document), and online (window); null for none. */
  document?: Pick<Document, 'hidden' | 'addEventListener' | 'removeEventListener' | 'createElement'> | null;
  window?: Pick<Window, 'addEventListener' | 'removeEventListener'> | null;
}

export type AttachState = 'idle' | 'acquiring' | 'playing' | 'refused' | 'revoked' | 'released' | 'error';

export interface AttachEventMap {
  granted: Granted;
  refused: Refused;
  revoked: EventMap['revoked'];
  released: { reason: 'paused' | 'ended' | 'release' | 'detach' | string; removedStream: boolean };
  error: { error: StreamLimitError | Error };
}

export class Attachment extends EventTarget {
  readonly client: StreamLimitClient;
  readonly media: HTMLMediaElement;
  readonly state: AttachState;
  readonly uid: string;
  on<K extends keyof AttachEventMap>(type: K, listener: (detail: AttachEventMap[K]) => void): () => void;
  /** canStream unless a slot is held: true when granted. */
  acquire(): Promise<boolean>;
  /** Ends the account's session by its handle, then asks for the slot and plays: true when playing. */
  stopSession(session: string): Promise<boolean>;
  /** Gives the slot back (endStream) and pauses. */
  release(reason?: string): Promise<{ removedStream: boolean }>;
  /** Removes the listeners, the overlay and the play() wrapper; gives the slot back. */
  detach(): Promise<{ removedStream: boolean }>;
}

/**
 * Drives `media` with a streamlimit client: canStream before it plays,
 * heartbeats while it plays, the slot given back when paused long, ended or
 * closed; playback stopped with the reason on a refusal or a revocation.
 */
export function attach(media: HTMLMediaElement, options: AttachOptions): Attachment;
