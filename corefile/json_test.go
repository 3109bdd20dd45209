package corefile

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/config/configtest"
)

// gtmBlock is a gtm block cut out of a Corefile, with its server block's keys.
type gtmBlock struct {
	keys  []string
	input string
}

// gtmBlocks cuts the gtm blocks out of a Corefile.
func gtmBlocks(corefile string) []gtmBlock {
	var (
		out    []gtmBlock
		keys   []string
		cur    strings.Builder
		depth  int
		inside bool
	)
	for _, line := range strings.Split(corefile, "\n") {
		code, _, _ := strings.Cut(line, "#")
		fields := strings.Fields(code)
		if depth == 0 && len(fields) > 1 && fields[len(fields)-1] == "{" {
			keys = fields[:len(fields)-1]
		}
		if !inside && depth == 1 && len(fields) > 0 && fields[0] == "gtm" {
			inside = true
			cur.Reset()
		}
		if inside {
			cur.WriteString(line + "\n")
		}
		depth += strings.Count(code, "{") - strings.Count(code, "}")
		if inside && depth == 1 {
			inside = false
			out = append(out, gtmBlock{keys: keys, input: cur.String()})
		}
	}
	return out
}

// readmeCorefiles are the ~~~ corefile examples of README.md.
func readmeCorefiles(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(data), "~~~ corefile\n")[1:] {
		example, _, ok := strings.Cut(part, "~~~")
		if !ok {
			t.Fatal("README.md: a corefile example is not closed")
		}
		out = append(out, example)
	}
	return out
}

// TestCorefileAndJSONAgree reads every Corefile gtm block of the tests, the
// README and Corefile.example, writes its JSON form and reads that back: the
// two sources must give the same configuration.
func TestCorefileAndJSONAgree(t *testing.T) {
	type source struct {
		name string
		gtmBlock
	}
	var sources []source
	for _, tc := range parseTests {
		if tc.err == "" {
			sources = append(sources, source{"TestParse " + tc.name, gtmBlock{input: tc.input}})
		}
	}
	for i, ex := range readmeCorefiles(t) {
		for _, b := range gtmBlocks(ex) {
			sources = append(sources, source{fmt.Sprintf("README example %d", i+1), b})
		}
	}
	example, err := os.ReadFile("../Corefile.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range gtmBlocks(string(example)) {
		sources = append(sources, source{"Corefile.example", b})
	}
	if len(sources) < 18 {
		t.Fatalf("found %d gtm blocks, expected at least 18", len(sources))
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", s.input)
			c.ServerBlockKeys = s.keys
			cfg, _, err := Parse(c)
			if err != nil {
				t.Fatalf("%v\n%s", err, s.input)
			}
			data, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			back, err := config.ParseJSON(data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if back.Fingerprint() != cfg.Fingerprint() {
				t.Fatalf("the JSON form reads as another configuration:\n%s", data)
			}
			if len(back.Warnings) != len(cfg.Warnings) {
				t.Errorf("warnings %q from JSON, %q from the Corefile", back.Warnings, cfg.Warnings)
			}
			configtest.ClearPositions(cfg)
			configtest.ClearPositions(back)
			cfg.API = nil    // where the API listens is the Corefile's alone, not part of the JSON form
			cfg.DNSSEC = nil // so are the key files: on each node, never through the API
			if !reflect.DeepEqual(cfg, back) {
				t.Fatalf("the JSON form reads as another configuration:\n%s", data)
			}
		})
	}
}

// TestReadmeJSON checks that the README's JSON example is its first Corefile
// example.
func TestReadmeJSON(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "~~~ json\n")
	example, _, _ := strings.Cut(rest, "~~~")
	if !ok {
		t.Fatal("README.md has no ~~~ json example")
	}
	fromJSON, err := config.ParseJSON([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	b := gtmBlocks(readmeCorefiles(t)[0])[0]
	c := caddy.NewTestController("dns", b.input)
	c.ServerBlockKeys = b.keys
	fromCorefile, _, err := Parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if fromJSON.Fingerprint() != fromCorefile.Fingerprint() {
		out, _ := json.MarshalIndent(fromCorefile, "", "  ")
		t.Fatalf("the README's JSON example differs from its first Corefile example, which reads as\n%s", out)
	}
}

// TestCorefileAndJSONErrors checks that the JSON form of every Corefile of
// TestParse that is well written but breaks a rule gets the same message:
// both are checked by config.Validate.
func TestCorefileAndJSONErrors(t *testing.T) {
	checked := 0
	for _, tc := range parseTests {
		if tc.err == "" {
			continue
		}
		cfg, _, err := parseBlock(caddy.NewTestController("dns", tc.input))
		if err != nil {
			continue // a syntax error, the parser's own
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		verr := cfg.Validate()
		if verr == nil {
			continue // a rule of the plugin's, not of the configuration
		}
		t.Run(tc.name, func(t *testing.T) {
			checked++
			_, jerr := config.ParseJSON(data)
			if jerr == nil {
				t.Fatalf("the JSON form is valid, the Corefile is not: %v\n%s", verr, data)
			}
			_, want, _ := strings.Cut(verr.Error(), " - Error during parsing: ")
			_, got, _ := strings.Cut(jerr.Error(), ": ")
			if !strings.Contains(want, "at line ") && got != want {
				t.Errorf("JSON: %q\nCorefile: %q", got, want)
			}
			if !strings.HasPrefix(jerr.Error(), "$") {
				t.Errorf("JSON error %q names no path", jerr)
			}
		})
	}
	if checked < 50 {
		t.Errorf("checked %d errors, expected at least 50", checked)
	}
}
