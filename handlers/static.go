package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/streamlimit/streamlimit/apierr"
)

// staticTypes are the file types Config.Static may serve, by extension;
// other files are not served.
var staticTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".ts":   "text/plain; charset=utf-8", // streamlimit.d.ts: TypeScript declarations
	// The demo's test stream: a fragmented MP4 that plays as it is and its
	// HLS playlist, which names byte ranges of it (Range requests: 206).
	".mp4":  "video/mp4",
	".m3u8": "application/vnd.apple.mpegurl",
}

// asset is one static file, read once at start.
type asset struct {
	data  []byte
	ctype string
	etag  string
}

// loadStatic reads the top-level files of fsys that have a known type.
// A nil fsys serves nothing.
func loadStatic(fsys fs.FS) (map[string]asset, error) {
	out := map[string]asset{}
	if fsys == nil {
		return out, nil
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		ctype, ok := staticTypes[path.Ext(e.Name())]
		if e.IsDir() || !ok {
			continue
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		out[e.Name()] = asset{data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return out, nil
}

// demoPage serves index.html of Config.Static at the prefix's root
// (/dev/ locally).
func (s *server) demoPage(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, r, "index.html")
}

// clientFile serves one file of Config.Static: the browser client
// (streamlimit.js, streamlimit.d.ts, ...), the demo page's script and style
// and its test stream (testcard.mp4, testcard.m3u8; byte ranges too).
func (s *server) clientFile(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, r, r.PathValue("file"))
}

func (s *server) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := s.static[name]
	if !ok {
		apierr.Write(w, http.StatusNotFound, "not_found", "No such file: "+r.URL.Path+".")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	// Revalidated on every use (cheap with the ETag), so a new build is
	// picked up at once.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}

// staticPattern turns a table path ending in "/" into a pattern matching
// that path only, not the subtree under it.
func staticPattern(p string) string {
	if strings.HasSuffix(p, "/") {
		return p + "{$}"
	}
	return p
}
