// The streamlimit adapter for Shaka Player: attach() on the element the
// Shaka player plays into.
//
//   import { attachShaka } from '@streamlimit/client/shaka';
//   const player = new shaka.Player();
//   await player.attach(video);
//   await player.load(url);
//   const stream = attachShaka(player, { baseUrl, uid, token });
import { attach } from './attach.js';

/** attach() for a shaka.Player already attached to its media element (or give options.media). */
export function attachShaka(player, options = {}) {
  const media = options.media ?? player?.getMediaElement?.();
  if (!media) throw new TypeError('attachShaka: call player.attach(video) first, or pass options.media');
  return attach(media, options);
}
