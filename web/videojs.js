// The streamlimit plugin for video.js (8.x): attach() on the player's
// <video> (its HTML5 tech's element, which video.js and its HLS/DASH engine
// play into), the overlay inside the player.
//
//   import videojs from 'video.js';
//   import { registerStreamLimit } from '@streamlimit/client/videojs';
//   registerStreamLimit(videojs);
//   const player = videojs('my-video');
//   const stream = player.streamlimit({ baseUrl, uid, token });
import { attach } from './attach.js';

/**
 * Registers the plugin `name` ('streamlimit') on videojs. Calling it on a
 * player returns the Attachment; it is detached when the player is disposed.
 */
export function registerStreamLimit(videojs, name = 'streamlimit') {
  if (typeof videojs?.registerPlugin !== 'function') throw new TypeError('registerStreamLimit: pass the videojs function');
  if (videojs.getPlugin?.(name)) return videojs.getPlugin(name);
  return videojs.registerPlugin(name, function streamlimit(options = {}) {
    return attachVideojs(this, options);
  });
}

/** attach() for a video.js player, without registering a plugin. */
export function attachVideojs(player, options = {}) {
  const tech = player.tech({ IWillNotUseThisInPlugins: true });
  const media = tech?.el?.();
  if (!media || typeof media.play !== 'function') {
    throw new TypeError('attachVideojs: the player has no HTML5 media element yet: call it in player.ready()');
  }
  const ui = options.ui === false ? false : { container: player.el(), ...(typeof options.ui === 'object' ? options.ui : {}) };
  const stream = attach(media, { ...options, ui });
  player.on('dispose', () => stream.detach());
  return stream;
}
