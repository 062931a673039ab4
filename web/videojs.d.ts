// Type declarations of videojs.js: the streamlimit plugin for video.js.
import type { AttachOptions, Attachment } from './attach.js';

/** The part of a video.js player the plugin uses. */
export interface VideojsPlayerLike {
  tech(options: { IWillNotUseThisInPlugins: true }): { el(): Element } | undefined;
  el(): Element;
  on(type: 'dispose', listener: () => void): void;
}

/** Registers the plugin (`player.streamlimit(options)` returns the Attachment); once per name. */
export function registerStreamLimit(
  videojs: { registerPlugin(name: string, plugin: (this: VideojsPlayerLike, options: AttachOptions) => Attachment): unknown; getPlugin?(name: string): unknown },
  name?: string,
): unknown;

/** attach() on a video.js player's media element, the overlay in the player; detached on dispose. */
export function attachVideojs(player: VideojsPlayerLike, options: AttachOptions): Attachment;
