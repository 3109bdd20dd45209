package api

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/config"
)

// TestConsoleServed checks how the console's files are served: / sends to
// /console/, every embedded file comes with its type, a strict
// Content-Security-Policy, nosniff and an ETag that revalidates; nothing
// else is served; and the API beside it is unchanged.
func TestConsoleServed(t *testing.T) {
	s := &Service{set: &config.API{Address: "127.0.0.1:0"}, base: &config.Config{}}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, p := range []string{"/", "/console"} {
		resp, _ := get(noFollow, p)
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/console/" {
			t.Errorf("GET %s: %d to %q, want a redirect to /console/", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	types := map[string]string{".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
	names := []string{""}
	fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, "console/"))
		}
		return err
	})
	if len(names) < 8 {
		t.Fatalf("embedded console files: %v", names)
	}
	for _, name := range names {
		resp, body := get(http.DefaultClient, "/console/"+name)
		if resp.StatusCode != 200 || body == "" {
			t.Errorf("/console/%s: %d", name, resp.StatusCode)
			continue
		}
		ext := ".html"
		if i := strings.LastIndex(name, "."); i >= 0 {
			ext = name[i:]
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, types[ext]) {
			t.Errorf("/console/%s: Content-Type %q, want %s", name, ct, types[ext])
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("/console/%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
			t.Errorf("/console/%s: CSP %q allows more than this origin", name, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
			t.Errorf("/console/%s: headers %v", name, resp.Header)
		}
		again, _ := get(http.DefaultClient, "/console/"+name, "If-None-Match", resp.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("/console/%s with its ETag: %d, want 304", name, again.StatusCode)
		}
	}

	// Nothing in the console loads from elsewhere or runs inline code.
	for _, name := range names[1:] {
		b, _ := consoleFiles.ReadFile("console/" + name)
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "<style", " style=", "innerHTML", "eval(", "new Function", "@import", "url("} {
			if strings.Contains(text, bad) {
				t.Errorf("console/%s contains %q", name, bad)
			}
		}
		if strings.HasSuffix(name, ".html") && regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(text) {
			t.Errorf("console/%s has an inline script", name)
		}
	}

	for _, p := range []string{"/console/nope.js", "/console/../routes.go", "/console/.", "/nope"} {
		if resp, _ := get(noFollow, p); resp.StatusCode != 404 && resp.StatusCode/100 != 3 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	// The API is still the API.
	if resp, _ := get(http.DefaultClient, "/openapi.json"); resp.StatusCode != 200 {
		t.Errorf("/openapi.json: %d", resp.StatusCode)
	}
}
