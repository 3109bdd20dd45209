package api

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

// The web console: static files (HTML, CSS, JavaScript modules) embedded
// in the binary, served beside the API on its listener. It uses nothing
// but the API, with the token the user signs in with, so it may do no more
// than that token may.
//
//go:embed console
var consoleFiles embed.FS

// ConsolePolicy is the Content-Security-Policy the console is served with:
// its own scripts, styles and images only (no inline code, no eval), calls
// to this origin only, never framed, forms never submitted by the browser.
const ConsolePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'none'; object-src 'none'; media-src 'none'; frame-src 'none'; worker-src 'none'; manifest-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleTags are the files' ETags, digests of their content: a browser
// revalidates every file on each load (Cache-Control: no-cache) and gets
// 304 unless the binary changed.
var consoleTags = func() map[string]string {
	tags := map[string]string{}
	fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[strings.TrimPrefix(p, "console/")] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return tags
}()

// registerConsole serves the console at /console/ and sends / there.
func registerConsole(mux *http.ServeMux) {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the directory is embedded
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /console/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/console/")
		if name == "" {
			name = "index.html"
		}
		h := w.Header()
		h.Set("Content-Security-Policy", ConsolePolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		tag, ok := consoleTags[name]
		if !ok {
			h.Set("Cache-Control", "no-store")
			http.NotFound(w, r)
			return
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", tag)
		// Only the embedded files listed above are served, by name; the
		// request's path is not used to find them (no directory listings,
		// no index.html redirects).
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		http.ServeFileFS(w, r2, sub, name)
	})
}
