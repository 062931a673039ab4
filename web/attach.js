// attach(media, options): the streamlimit client driving a player. One core
// for every player; videojs.js, hlsjs.js and shaka.js are thin wrappers.
//
//   const stream = attach(video, { baseUrl: 'https://api.example.com', uid: 'alice', token });
//   video.play(); // asks for a slot first; plays if granted, shows who is watching if not
//
// Lifecycle (README.md, "Players"):
//   play      → canStream before the first frame (media.play() waits for the
//               answer; a play started around it, by native controls or
//               autoplay, is paused until granted)
//   playing   → heartbeats (also while the page is hidden: a stream playing in
//               a background tab is still a stream)
//   paused    → the lease is kept for pausedReleaseMs (5 min), or
//               hiddenPausedReleaseMs (1 min) while the page is hidden, then
//               given back; play again asks again (and gets the slot back if
//               it is still free)
//   ended     → endStream at once
//   pagehide  → endStream with a keepalive fetch (the client)
//   410 / lease lost → playback stops, the reason is shown
//   refused   → the account's sessions are shown; "Stop" ends one by its
//               handle and this player starts
// A heartbeat that fails is retried while the lease has time left (the
// client): playback goes on through a network blip with the same lease; a
// lease given up for lack of answers is taken over again by the next
// canStream (its id is sent as proof), when the network is back.
import { StreamLimitClient } from './streamlimit.js';
import { sessionLabel } from './device.js';

const DEFAULTS = {
  pausedReleaseMs: 5 * 60 * 1000,
  hiddenPausedReleaseMs: 60 * 1000,
};

/** The texts the overlay shows; pass `messages` to replace any of them. */
export const MESSAGES = {
  acquiring: 'Checking for a free stream…',
  refused: (r) => `All ${r.maxStreams} streams of this account are in use`,
  refusedHint: 'Stop watching on one of these devices to watch here:',
  stop: 'Stop',
  retry: 'Try again',
  playAgain: 'Play again',
  thisDevice: 'this device',
  since: (d) => 'since ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
  // Why playback stopped: lease_revoked by its reason, then other errors.
  kicked: 'This stream was stopped from another device of the account.',
  superseded: 'This stream continues in another player or tab of this browser.',
  evicted_oldest: 'This stream made room for a newer one on this account.',
  admin: 'This stream was ended by the service.',
  lease_expired: 'The stream has ended: its lease expired or was ended elsewhere.',
  lease_lost: 'The stream service could not be reached, so playback stopped. It resumes when the connection is back.',
  unauthorized: 'Sign-in required: the stream service did not accept this player\u2019s access token.',
  forbidden: 'This account may not be used with the access token of this player.',
  error: (err) => 'The stream could not start: ' + (err?.message ?? err),
};

/**
 * Drives `media` (an HTMLMediaElement) with a streamlimit client. Returns an
 * Attachment (an EventTarget: acquiring, granted, refused, revoked,
 * released, error).
 */
export function attach(media, options) {
  return new Attachment(media, options);
}

export class Attachment extends EventTarget {
  #media;
  #o;
  #ownsClient;
  #play; // the element's own play(), before attach wrapped it
  #pause;
  #halt;
  #resume;
  #halted = false;
  #state = 'idle';
  #pending = null;
  #pauseTimer = null;
  #pausedAt = 0; // when a player holding its lease was paused; 0 while not
  #lastError = null; // the error of the last revocation
  #playOnShow = false; // playing when the page was hidden for the back/forward cache
  #doc;
  #win;
  #overlay = null;
  #off = [];
  #m;

  constructor(media, options = {}) {
    super();
    if (!media || typeof media.addEventListener !== 'function' || typeof media.play !== 'function') {
      throw new TypeError('attach: the first argument must be a media element (<video> or <audio>)');
    }
    if (!options.uid) throw new TypeError('attach: uid (the account, or a function returning it) is required');
    this.#o = { ...DEFAULTS, ...options };
    this.#m = { ...MESSAGES, ...options.messages };
    this.#media = media;
    this.#ownsClient = !options.client;
    this.client = options.client ?? new StreamLimitClient({
      baseUrl: options.baseUrl, token: options.token, deviceName: options.deviceName, ...options.clientOptions,
    });
    this.#doc = options.document !== undefined ? options.document : globalThis.document ?? null;
    this.#win = options.window !== undefined ? options.window : globalThis.window ?? null;
    const ownPlay = media.play;
    const hadOwnPlay = Object.prototype.hasOwnProperty.call(media, 'play');
    this.#play = options.play ?? (() => ownPlay.call(media));
    this.#pause = options.pause ?? (() => media.pause());
    this.#halt = options.halt ?? null;
    this.#resume = options.resume ?? null;

    // Every play through media.play() (the app, video.js, hls.js or Shaka)
    // waits for the slot.
    media.play = () => this.#gatedPlay();
    this.#off.push(() => {
      if (hadOwnPlay) media.play = ownPlay;
      else delete media.play;
    });
    this.#listen(media, 'play', () => this.#onPlay());
    this.#listen(media, 'pause', () => this.#onPause());
    this.#listen(media, 'ended', () => this.release('ended'));
    this.#listen(this.#doc, 'visibilitychange', () => this.#onVisibility());
    this.#listen(this.#win, 'online', () => this.#onOnline());
    this.#listen(this.#win, 'pageshow', (e) => this.#onPageShow(e));
    this.#off.push(this.client.on('revoked', (d) => this.#onRevoked(d)));
    this.#off.push(this.client.on('stopped', (d) => this.#onStopped(d)));
    if (options.ui !== false && this.#doc) this.#overlay = new Overlay(this, this.#doc, media, options.ui, this.#m);
  }

  /** 'idle' | 'acquiring' | 'playing' | 'refused' | 'revoked' | 'released' | 'error' */
  get state() {
    return this.#state;
  }

  /** The media element. */
  get media() {
    return this.#media;
  }

  /** The account this player streams for. */
  get uid() {
    const uid = this.#o.uid;
    return typeof uid === 'function' ? uid() : uid;
  }

  /** Adds a listener for an event's detail; returns a function removing it. */
  on(type, listener) {
    const fn = (e) => listener(e.detail);
    this.addEventListener(type, fn);
    return () => this.removeEventListener(type, fn);
  }

  /**
   * Asks for a slot unless this player holds one: resolves true when
   * granted, false when refused (the overlay lists the sessions) or failed
   * (the overlay says why). Concurrent calls share one request.
   */
  acquire() {
    if (this.client.state === 'playing') return Promise.resolve(true);
    this.#pending ??= this.#acquire().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /**
   * "Stop watching on that device": ends the account's session `session`
   * (its handle, from the refusal) and, unless this player already plays,
   * asks for the slot and plays. Resolves true when playing.
   */
  async stopSession(session) {
    try {
      await this.client.endSession(this.uid, session);
    } catch (err) {
      if (err instanceof TypeError) throw err; // not a session handle
      // Already gone (404) is as good as ended: ask anyway. Anything else is shown.
      if (err?.code !== 'session_not_found') {
        this.#fail(err);
        return false;
      }
    }
    if (this.client.state === 'playing') return true;
    return this.#startPlaying();
  }

  /**
   * Gives the slot back (endStream) and pauses; a later play asks again.
   * `reason` goes into the `released` event ('release' unless told).
   */
  async release(reason = 'release') {
    this.#clearPauseTimer();
    const held = this.client.state === 'playing' || this.client.state === 'starting';
    if (reason !== 'ended' && reason !== 'paused' && !this.#media.paused) this.#pause();
    if (!held) return { removedStream: false };
    this.#set('released');
    const r = await this.client.stop();
    this.#emit('released', { reason, removedStream: r.removedStream });
    return r;
  }

  /** Undoes attach: removes the listeners and the overlay, gives the slot back; an owned client is disposed. */
  async detach() {
    for (const off of this.#off.splice(0)) off();
    this.#overlay?.remove();
    this.#overlay = null;
    const r = await this.release('detach');
    if (this.#ownsClient) this.client.dispose();
    return r;
  }

  // --- playback -------------------------------------------------------------

  #gatedPlay() {
    if (this.client.state === 'playing') {
      this.#clearPauseTimer();
      return this.#play();
    }
    return this.acquire().then((ok) => {
      if (!ok) throw new DOMException('streamlimit: not playing (' + this.#state + ')', 'AbortError');
      return this.#playGranted();
    });
  }

  // Plays with the slot granted. When the element refuses (autoplay policy:
  // NotAllowedError), the slot is held as by a paused player: given back
  // after the pause policy's time unless a play comes first.
  #playGranted() {
    return Promise.resolve(this.#play()).catch((err) => {
      if (this.#media.paused) this.#onPause();
      throw err;
    });
  }

  // A play that went around media.play() (native controls, autoplay) is
  // held until the slot is granted.
  #onPlay() {
    if (this.client.state === 'playing') {
      this.#clearPauseTimer();
      return;
    }
    this.#pause();
    this.#startPlaying();
  }

  async #startPlaying() {
    const ok = await this.acquire();
    if (ok) this.#playGranted().catch(() => {});
    return ok;
  }

  async #acquire() {
    this.#set('acquiring');
    this.#emit('acquiring', {});
    this.#overlay?.show('acquiring');
    try {
      const r = await this.client.start(this.uid, { client: { title: this.#value(this.#o.title), deviceName: this.#o.deviceName } });
      if (!r.granted) {
        this.#set('refused');
        this.#overlay?.showRefused(r);
        this.#emit('refused', r);
        return false;
      }
      if (this.#halted) {
        this.#halted = false;
        this.#resume?.();
      }
      this.#set('playing');
      this.#overlay?.hide();
      this.#emit('granted', r);
      return true;
    } catch (err) {
      if (err?.name === 'AbortError') return false; // released meanwhile
      this.#fail(err);
      return false;
    }
  }

  #fail(err) {
    this.#set('error');
    this.#overlay?.showStopped(this.#explain(err?.code, err?.reason, err), err?.reason ?? err?.code);
    this.#emit('error', { error: err });
  }

  #onRevoked(detail) {
    this.#clearPauseTimer();
    if (!this.#media.paused) this.#pause();
    if (this.#halt && !this.#halted) {
      this.#halted = true;
      this.#halt();
    }
    this.#set('revoked');
    this.#lastError = detail.error;
    this.#overlay?.showStopped(this.#explain(detail.error, detail.reason, detail), detail.reason ?? detail.error);
    this.#emit('revoked', detail);
  }

  // The client ended the lease as the page went away (pagehide). A page kept
  // in the back/forward cache must not play on without it: paused, and when
  // it is shown again, it asks for a slot and plays on if it was playing.
  #onStopped({ reason, persisted }) {
    if (reason !== 'pagehide') return;
    this.#clearPauseTimer();
    this.#playOnShow = Boolean(persisted) && !this.#media.paused;
    if (!this.#media.paused) this.#pause();
    this.#set('released');
  }

  #onPageShow(event) {
    if (!event?.persisted || !this.#playOnShow) return;
    this.#playOnShow = false;
    this.#startPlaying();
  }

  // Back online after a lease was lost to the network: take it over again
  // (the client proves it held it) and play on.
  #onOnline() {
    if (this.#state === 'revoked' && this.#lastError === 'lease_lost') this.#startPlaying();
  }

  #explain(error, reason, err) {
    const m = this.#m;
    const text = (error === 'lease_revoked' && m[reason]) || m[error];
    if (typeof text === 'string') return text;
    return typeof m.error === 'function' ? m.error(err) : String(m.error);
  }

  // --- the pause policy -----------------------------------------------------

  #onPause() {
    if (this.client.state !== 'playing' || this.#media.ended) return;
    this.#pausedAt = Date.now();
    this.#armPauseTimer();
  }

  #onVisibility() {
    if (this.#pausedAt && this.client.state === 'playing') this.#armPauseTimer();
  }

  // The lease of a paused player is given back after pausedReleaseMs, or
  // hiddenPausedReleaseMs while the page is hidden, counted from the pause.
  #armPauseTimer() {
    if (this.#pauseTimer !== null) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = null;
    const limit = this.#doc?.hidden ? this.#o.hiddenPausedReleaseMs : this.#o.pausedReleaseMs;
    if (!Number.isFinite(limit)) return;
    const wait = Math.max(0, this.#pausedAt + limit - Date.now());
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = null;
      if (this.#media.paused && this.client.state === 'playing') this.release('paused');
    }, wait);
  }

  #clearPauseTimer() {
    if (this.#pauseTimer !== null) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = null;
    this.#pausedAt = 0;
  }

  // --- helpers --------------------------------------------------------------

  #listen(target, type, fn) {
    if (!target?.addEventListener) return;
    target.addEventListener(type, fn);
    this.#off.push(() => target.removeEventListener(type, fn));
  }

  #value(v) {
    return typeof v === 'function' ? v() : v;
  }

  #set(state) {
    this.#state = state;
    this.#overlay?.setState(state);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// The overlay over the player: the refusal with the account's sessions and
// a Stop button for each, or why playback stopped. Plain DOM, inline styles,
// data-streamlimit-* attributes to style or test it by.
class Overlay {
  constructor(attachment, doc, media, ui, messages) {
    this.a = attachment;
    this.doc = doc;
    this.m = messages;
    const container = (ui && typeof ui === 'object' && ui.container) || media.parentElement;
    if (!container) throw new TypeError('attach: the media element needs a parent (or ui.container) for the overlay');
    const view = doc.defaultView;
    if (view?.getComputedStyle && view.getComputedStyle(container).position === 'static') container.style.position = 'relative';
    this.el = this.make('div', {
      className: 'streamlimit-overlay', role: 'dialog',
      style: 'position:absolute;inset:0;z-index:10;display:none;align-items:center;justify-content:center;'
        + 'overflow:auto;padding:1em;box-sizing:border-box;background:rgba(10,12,20,.88);color:#fff;'
        + 'font:14px/1.4 system-ui,sans-serif;text-align:center',
    });
    this.el.setAttribute('aria-live', 'polite');
    this.el.dataset.streamlimit = 'idle';
    container.append(this.el);
  }

  make(tag, props = {}, ...children) {
    const e = Object.assign(this.doc.createElement(tag), props);
    e.append(...children);
    return e;
  }

  button(text, data, onClick) {
    const b = this.make('button', {
      type: 'button', textContent: text,
      style: 'margin:.25em;padding:.35em .9em;border:1px solid #fff;border-radius:4px;background:transparent;color:inherit;font:inherit;cursor:pointer',
    });
    b.setAttribute(data, '');
    b.addEventListener('click', onClick);
    return b;
  }

  setState(state) {
    this.el.dataset.streamlimit = state;
  }

  render(...children) {
    this.el.replaceChildren(this.make('div', { className: 'streamlimit-box', style: 'max-width:36em' }, ...children));
    this.el.style.display = 'flex';
  }

  show(state) {
    if (state === 'acquiring') this.render(this.make('p', { textContent: this.m.acquiring }));
  }

  hide() {
    this.el.style.display = 'none';
    this.el.replaceChildren();
  }

  remove() {
    this.el.remove();
  }

  showRefused(r) {
    const mine = this.a.client.deviceId;
    const items = (r.streams ?? []).map((s) => {
      const what = [s.client?.title ? '\u201c' + s.client.title + '\u201d' : '', this.m.since(new Date(s.createdAt))].filter(Boolean).join(' · ');
      const li = this.make('li', { style: 'display:flex;align-items:center;justify-content:space-between;gap:1em;padding:.3em 0;border-top:1px solid rgba(255,255,255,.2)' },
        this.make('span', { style: 'text-align:left' },
          this.make('strong', { className: 'streamlimit-device', textContent: sessionLabel(s) }),
          s.deviceId && s.deviceId === mine ? this.make('em', { textContent: ' (' + this.m.thisDevice + ')' }) : '',
          this.make('br'), this.make('small', { textContent: what })),
        this.button(this.m.stop, 'data-streamlimit-stop', (e) => {
          e.currentTarget.disabled = true;
          this.a.stopSession(s.session);
        }));
      li.dataset.streamlimitSession = s.session;
      return li;
    });
    this.render(
      this.make('p', { className: 'streamlimit-title', textContent: this.m.refused(r), style: 'font-weight:600;font-size:1.15em;margin:0 0 .4em' }),
      this.make('p', { textContent: this.m.refusedHint, style: 'margin:0 0 .4em' }),
      this.make('ul', { className: 'streamlimit-sessions', style: 'list-style:none;margin:0 0 .6em;padding:0' }, ...items),
      this.button(this.m.retry, 'data-streamlimit-retry', () => this.a.media.play().catch(() => {})),
    );
  }

  showStopped(text, reason) {
    const p = this.make('p', { className: 'streamlimit-reason', textContent: text, style: 'margin:0 0 .6em' });
    p.dataset.streamlimitReason = reason ?? '';
    this.render(p, this.button(this.m.playAgain, 'data-streamlimit-retry', () => this.a.media.play().catch(() => {})));
  }
}
