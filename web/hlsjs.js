// The streamlimit adapter for hls.js: attach() on the element hls.js plays
// into, and segment loading stopped while the lease is gone (hls.stopLoad),
// started again when a slot is granted (hls.startLoad).
//
//   import Hls from 'hls.js';
//   import { attachHls } from '@streamlimit/client/hls';
//   const hls = new Hls();
//   hls.loadSource(url);
//   hls.attachMedia(video);
//   const stream = attachHls(hls, { baseUrl, uid, token });
import { attach } from './attach.js';

/** attach() for an hls.js instance already attached to its media element (or give options.media). */
export function attachHls(hls, options = {}) {
  const media = options.media ?? hls?.media;
  if (!media) throw new TypeError('attachHls: call hls.attachMedia(video) first, or pass options.media');
  return attach(media, {
    halt: () => hls.stopLoad(),
    resume: () => hls.startLoad(),
    ...options,
  });
}
