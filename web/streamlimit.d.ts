// Type declarations of streamlimit.js, the streamlimit browser client.

export { deviceLabel, describeUserAgent, sessionLabel } from './device.js';

/** localStorage key of the per-browser device id: a label, not a proof. */
export const DEVICE_ID_KEY: 'streamlimit.deviceId';
/**
 * localStorage key of the per-browser device secret (base64url of 24 random
 * bytes), kept beside the device id. It proves that this browser holds the
 * lease it was granted; it is sent in canStream's JSON body only, never in a
 * URL, and the server stores only its hash.
 */
export const DEVICE_SECRET_KEY: 'streamlimit.deviceSecret';
/** sessionStorage key of a lease ended by a keepalive fetch on pagehide. */
export const PENDING_END_KEY: 'streamlimit.pendingEnd';

/** What a player tells about itself; shown to the account's other devices. */
export interface ClientInfo {
  /**
   * The device as others see it. By default the client sends a readable
   * label here (deviceLabel: the device name, browser and OS, "Living room
   * TV · Chrome 131 on Windows"); a listing may also hold a raw User-Agent
   * (the server's fallback): show sessions with sessionLabel.
   */
  userAgent?: string;
  /** What is playing. */
  title?: string;
}

/** What start() may say about the player. */
export interface StartClientInfo extends ClientInfo {
  /** This device's name for the label (overrides the deviceName option); not sent as such. */
  deviceName?: string;
}

/**
 * Asked for the access token before each request. `refresh` is true after
 * the service answered 401 to the last one: get a fresh token (this is asked
 * once per request). Return null or undefined for none.
 */
export type TokenProvider = (context: { refresh: boolean }) => string | null | undefined | Promise<string | null | undefined>;

/** A live session of the account, as the API lists it (never its lease id). */
export interface Session {
  /** Handle naming the session without revealing its lease id (16 hex digits). */
  session: string;
  deviceId?: string;
  client: ClientInfo;
  /** RFC 3339 UTC timestamps, whole seconds. */
  createdAt: string;
  renewedAt: string;
  expiresAt: string;
}

/** The lease held while playing. Heartbeats update it in place. */
export interface Lease {
  uid: string;
  /** The lease id of this grant: a resumed grant has a new one (the old id is dead). */
  leaseId: string;
  deviceId: string;
  /** When the lease expires unless renewed (server time). */
  expiresAt: Date;
  heartbeatIntervalSeconds: number;
  /** Live streams of the account at the grant (or the last heartbeat that reported it). */
  streamCount: number;
  maxStreams: number;
  /**
   * True when this grant took over a live lease the client proved it held
   * (its device secret, or the lease id it last held): the same session and
   * slot under a new `leaseId`. The old id is revoked (`superseded`), so a
   * player still using it (another tab of this browser) is stopped.
   */
  resumed: boolean;
}

export interface Granted {
  granted: true;
  lease: Lease;
  streamCount: number;
  maxStreams: number;
}

export interface Refused {
  granted: false;
  streamCount: number;
  maxStreams: number;
  /** Who is watching: the account's live sessions. */
  streams: Session[];
}

export type StartResult = Granted | Refused;

export interface EndResult {
  removedStream: boolean;
  streamCount?: number;
  /** Set when the service could not be reached; the lease then expires by itself. */
  error?: unknown;
}

export interface EndSessionResult {
  result: 'success';
  uid: string;
  session: string;
  removedStream: boolean;
  streamCount: number;
}

export interface StreamsResult {
  result: 'success';
  uid: string;
  streamCount: number;
  maxStreams: number;
  streams: Session[];
}

export type State = 'idle' | 'starting' | 'playing' | 'refused' | 'stopped' | 'revoked';

/**
 * Why a lease was revoked (`lease_revoked`): `superseded` — taken over by a
 * newer canStream that proved it (another tab or player of this browser: the
 * stream continues there); `kicked` — ended by the account holder;
 * `evicted_oldest` — revoked to admit a newer stream; `admin` — by an operator.
 */
export type RevokedReason = 'superseded' | 'kicked' | 'evicted_oldest' | 'admin';

export interface EventMap {
  granted: Granted;
  refused: Refused;
  /** `streamCount` only when the heartbeat answer carried one (this server's do not). */
  renewed: { lease: Lease; streamCount?: number };
  /** A heartbeat failed (network, timeout, 5xx, 429) and is tried again in delayMs. */
  retrying: { attempt: number; delayMs: number; status: number; error: string; message: string };
  /**
   * The lease is gone: the player should stop. `error` is the server's code
   * (`lease_expired`, `lease_revoked` with a `reason`, or another 4xx code) or
   * `lease_lost` when the service could not be reached before the lease ran out.
   */
  revoked: { error: string; reason?: RevokedReason | string; message: string; status?: number; lease: Lease };
  /** stop() was called, or the page was hidden for good (or for the bfcache: `persisted`). */
  stopped: { reason: 'stop' | 'pagehide'; persisted?: boolean; lease: Lease };
}

export interface Options {
  /** The API base, with the stage prefix if any: `http://localhost:3000/dev`. */
  baseUrl: string;
  /**
   * The access token provider, when the service checks identity
   * (AUTH_MODE=jwt): its token is sent as `Authorization: Bearer <token>`
   * with every request. A provider that throws is a retryable failure
   * (`token_error`). The end sent on pagehide carries the last token it gave.
   */
  token?: TokenProvider;
  /** A name for this device in the label others see ("Living room TV"). */
  deviceName?: string;
  /** Fixed device id (a label); by default one is kept in localStorage (DEVICE_ID_KEY). */
  deviceId?: string;
  /**
   * Fixed device secret, 16-128 characters of A-Z a-z 0-9 - _ (random, kept
   * by the player; the constructor throws a TypeError otherwise). By default
   * one is made with crypto.getRandomValues and kept in localStorage
   * (DEVICE_SECRET_KEY). Sent in canStream's body only.
   */
  deviceSecret?: string;
  /** Share of the heartbeat interval taken off at random (0.1). */
  heartbeatJitter?: number;
  /** First retry delay of the exponential backoff (500 ms). */
  retryBaseMs?: number;
  /** Longest retry delay (30 s, and never more than the heartbeat interval). */
  retryMaxMs?: number;
  /** The last retry is sent at least this long before the lease runs out (500 ms). */
  retryMarginMs?: number;
  /** Below this much time for another retry the lease is given up (100 ms). */
  minRetryMs?: number;
  /**
   * canStream attempts on network errors and 503s before start() rejects (3).
   * A 503 (`overloaded`, `store_throttled`, ...) is retried no sooner than its
   * Retry-After, with the same body (device id and secret).
   */
  startAttempts?: number;
  /** Bound on one request (10 s; a heartbeat is also bound by the interval). */
  requestTimeoutMs?: number;
  // Injected for tests or non-browser hosts; default to the browser's.
  fetch?: typeof fetch;
  /** Where the device id and device secret are kept (localStorage); null for none (new ones per client). */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
  sessionStorage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** Where pagehide is listened for (window); null for none. */
  pageLifecycle?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'> | null;
  random?: () => number;
}

/** An answer of the API that is not a success, or a failed request (status 0). */
export class StreamLimitError extends Error {
  readonly status: number;
  /** The API's error code (`unauthorized` on a 401), `network_error`, `token_error`, `invalid_state` or `http_<status>`. */
  readonly code: string;
  /** With `lease_revoked`: why (see RevokedReason). */
  readonly reason?: RevokedReason | string;
  readonly retryAfterMs?: number;
  readonly retryable: boolean;
}

export class StreamLimitClient extends EventTarget {
  constructor(options: Options);
  readonly state: State;
  readonly lease: Lease | null;
  readonly deviceId: string;
  on<K extends keyof EventMap>(type: K, listener: (detail: EventMap[K]) => void): () => void;
  /**
   * canStream; granted → heartbeats start. The body carries `deviceId`,
   * `deviceSecret` and, when this client holds or last held a lease whose end
   * is not known to have landed (a lost answer, a failed endStream, a lost
   * lease, a reload after pagehide), its `leaseId`: a live lease they prove is
   * taken over (`lease.resumed`) instead of using a second slot. Rejects with
   * StreamLimitError (a 410 `lease_revoked` with its `reason` when that last
   * lease was revoked meanwhile; the next start() does not send it again) or
   * an AbortError (stop() meanwhile).
   */
  start(uid: string, options?: { deviceId?: string; client?: StartClientInfo }): Promise<StartResult>;
  /** endStream; no heartbeat is sent after this call starts. */
  stop(): Promise<EndResult>;
  /** The account's live sessions (GET /streams/{uid}). */
  sessions(uid: string): Promise<StreamsResult>;
  /**
   * Ends another session of the account by its handle (a Session's
   * `session`; never a lease id): "stop watching on that device". Its player
   * learns it at its next heartbeat (410 lease_revoked, reason kicked).
   * Throws a TypeError for anything but a handle.
   */
  endSession(uid: string, session: string): Promise<EndSessionResult>;
  /** Stops heartbeating and listening for pagehide, without ending the lease. */
  dispose(): void;
}

export function heartbeatDelay(intervalMs: number, jitter: number, random: number): number;
export function retryDelay(
  attempt: number,
  options: { baseMs: number; maxMs: number; random: number; retryAfterMs?: number },
): number;
export function stableDeviceId(storage: Pick<Storage, 'getItem' | 'setItem'> | null | undefined): string;
/** The device secret kept in storage (DEVICE_SECRET_KEY), created on first use. */
export function stableDeviceSecret(storage: Pick<Storage, 'getItem' | 'setItem'> | null | undefined): string;
