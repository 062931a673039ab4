// Package web holds the streamlimit browser client (the npm package
// @streamlimit/client: ES modules with their TypeScript declarations) and
// the demo page that the local server serves at /dev/. FS embeds them so
// every binary can serve them without reading files at run time.
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.js *.d.ts *.html *.css *.mp4 *.m3u8
var files embed.FS

// FS returns the client and demo files, at the root of the file system:
// index.html, demo.js, demo.css, the client's modules (streamlimit.js,
// attach.js, device.js, the player adapters) with their .d.ts, and the
// demo's test stream (testcard.mp4 and its HLS playlist testcard.m3u8).
func FS() fs.FS { return files }
