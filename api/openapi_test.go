package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/config"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The OpenAPI Initiative's schema of OpenAPI 3.1 documents
// (https://spec.openapis.org/oas/3.1/schema/2022-10-07), kept in testdata
// so that the test needs no network.
const oasSchema = "testdata/oas31-schema.json"

func document(t *testing.T) (map[string]any, []byte) {
	t.Helper()
	s := &Service{set: &config.API{Address: "127.0.0.1:0"}, base: &config.Config{}}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/openapi.json: %d %s", resp.StatusCode, raw)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

// TestOpenAPIDocumentIsValid checks the served document against the OpenAPI
// 3.1 schema, and every schema in it against JSON Schema 2020-12.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, raw := document(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	f, err := os.Open(oasSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	oas, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://spec.openapis.org/oas/3.1/schema/2022-10-07", oas); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://spec.openapis.org/oas/3.1/schema/2022-10-07")
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3.1: %v", err)
	}
	// The schema does catch a broken document.
	broken := strings.Replace(string(raw), `"responses":`, `"responses":5,"x":`, 1)
	if bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(broken)); sch.Validate(bad) == nil {
		t.Fatal("a document with a broken operation passed")
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	if len(schemas) < 10 {
		t.Fatalf("only %d schemas", len(schemas))
	}
	for name, s := range schemas {
		b, _ := json.Marshal(s)
		v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		mc := jsonschema.NewCompiler()
		mc.DefaultDraft(jsonschema.Draft2020)
		// Refs point into the document; give the compiler the document.
		all, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err := mc.AddResource("doc.json", all); err != nil {
			t.Fatal(err)
		}
		_ = v
		if _, err := mc.Compile("doc.json#/components/schemas/" + name); err != nil {
			t.Errorf("schema %s is not valid JSON Schema: %v", name, err)
		}
	}
	// Nothing served loads from outside the machine.
	if regexp.MustCompile(`(?i)cdn|unpkg|jsdelivr|googleapis`).Match(raw) {
		t.Error("the document refers to a CDN")
	}
}

// TestOpenAPICoversEveryRoute checks that the routes the console and the
// README use are in the document, and that every operation in it reaches a
// handler.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, _ := document(t)
	paths := doc["paths"].(map[string]any)
	want := []string{
		"GET /api/v1/monitors", "POST /api/v1/monitors", "GET /api/v1/monitors/{name}", "PUT /api/v1/monitors/{name}", "DELETE /api/v1/monitors/{name}",
		"GET /api/v1/pools", "POST /api/v1/pools", "GET /api/v1/pools/{name}", "PUT /api/v1/pools/{name}", "DELETE /api/v1/pools/{name}",
		"GET /api/v1/instances", "POST /api/v1/instances", "GET /api/v1/instances/{name}", "PUT /api/v1/instances/{name}", "DELETE /api/v1/instances/{name}",
		"GET /api/v1/zones", "GET /api/v1/overrides",
		"PUT /api/v1/overrides/addresses/{pool}/{address}", "DELETE /api/v1/overrides/addresses/{pool}/{address}",
		"PUT /api/v1/overrides/pins/{instance}", "DELETE /api/v1/overrides/pins/{instance}", "POST /api/v1/instances/{instance}/switch-back",
		"GET /api/v1/history", "GET /api/v1/history/{revision}", "POST /api/v1/rollback",
		"GET /api/v1/events", "GET /api/v1/events/stream", "GET /api/v1/alerts",
		"GET /api/v1/status", "GET /api/v1/status/instances/{name}", "GET /api/v1/status/pools/{name}", "GET /api/v1/explain", "GET /api/v1/cluster",
		"GET /api/v1/traffic/instances/{name}", "GET /api/v1/traffic/pools/{name}",
	}
	for _, w := range want {
		method, path, _ := strings.Cut(w, " ")
		ops, ok := paths[path].(map[string]any)
		if !ok || ops[strings.ToLower(method)] == nil {
			t.Errorf("%s is not in the document", w)
		}
	}
	s := &Service{set: &config.API{Address: "127.0.0.1:0"}, base: &config.Config{}}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, ops := range paths {
		for method, o := range ops.(map[string]any) {
			req, _ := http.NewRequest(strings.ToUpper(method), srv.URL+param.ReplaceAllString(path, "1"), strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if resp.Header.Get("Content-Type") != "text/event-stream" { // a stream does not end
				body, _ = io.ReadAll(resp.Body)
			}
			resp.Body.Close()
			// The mux's own 404 and 405 are plain text; a handler's errors
			// are problems.
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") && ct != "text/event-stream" {
				t.Errorf("%s %s (%s) reaches no handler: %d %s", method, path, o.(map[string]any)["operationId"], resp.StatusCode, body)
			}
			if method == "get" && !strings.HasPrefix(path, "/openapi") && path != "/api/v1/events/stream" {
				ok, _ := o.(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)
				if h, _ := ok["headers"].(map[string]any); h["ETag"] == nil {
					t.Errorf("GET %s declares no ETag", path)
				}
			}
			sec, _ := o.(map[string]any)["security"].([]any)
			if len(sec) == 0 {
				t.Errorf("%s %s declares no security", method, path)
			}
		}
	}
}
