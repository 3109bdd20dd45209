package corefile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/internal/testkit"
)

func TestParseDNSSEC(t *testing.T) {
	inst := poolA + "\ninstance www {\n primary a\n}\n"
	for _, tc := range []struct {
		name, body, err string
		line            int
	}{
		// positive
		{"csk", "dnssec {\n key file Kexample.org.+013+12345\n}", "", 0},
		{"ksk and zsk", "dnssec {\n key file /k/ksk /k/zsk.key\n key file /k/zsk2.private\n}", "", 0},
		// negative
		{"no block", "dnssec", "dnssec needs a block", 9},
		{"empty", "dnssec {\n}", "dnssec needs at least one key", 9},
		{"no file", "dnssec {\n key Kfoo\n}", "usage 'key file KEY...'", 10},
		{"file alone", "dnssec {\n key file\n}", "usage 'key file KEY...'", 10},
		{"unknown", "dnssec {\n cache_capacity 10\n}", "unknown property 'cache_capacity' in dnssec block", 10},
		{"twice", "dnssec {\n key file /k/a\n key file /k/a.key\n}", "dnssec key '/k/a' is listed twice (first at line 10)", 11},
		{"block twice", "dnssec {\n key file /k/a\n}\ndnssec {\n key file /k/b\n}", "'dnssec' is given twice", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse(caddy.NewTestController("dns", testkit.Block(inst+tc.body)))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range cfg.DNSSEC.Keys {
					if !filepath.IsAbs(k.Path) && !strings.HasPrefix(k.Path, "Kexample") {
						t.Errorf("key path %q", k.Path)
					}
					if strings.HasSuffix(k.Path, ".key") || strings.HasSuffix(k.Path, ".private") {
						t.Errorf("key path %q keeps its suffix: want the base name", k.Path)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), fmt.Sprintf("Testfile:%d - ", tc.line)) {
				t.Fatalf("error %v, want %q at line %d", err, tc.err, tc.line)
			}
		})
	}
}
