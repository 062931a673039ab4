// Package web holds the streamlimit browser client (streamlimit.js, an ES
// module with its TypeScript declarations) and the demo page that the local
// server serves at /dev/. FS embeds them so every binary can serve them
// without reading files at run time.
package web

import (
	"embed"
	"io/fs"
)

//go:embed *.js *.d.ts *.html *.css
var files embed.FS

// FS returns the client and demo files, at the root of the file system:
// index.html, demo.js, demo.css, streamlimit.js, streamlimit.d.ts.
func FS() fs.FS { return files }
