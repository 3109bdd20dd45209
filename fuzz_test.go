package gtm

import (
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// FuzzParse feeds arbitrary Corefile text to the parser: it must return a
// config or an error, never panic, and what it accepts must compile and
// answer.
func FuzzParse(f *testing.F) {
	f.Add(block(twoSites))
	f.Add(block(poolA + "\ninstance www {\n primary a\n}"))
	f.Add(block("pool a {\n address 192.0.2.1 weight 5 mode down\n method weight\n max-answers 2\n min-available 50%\n}\ninstance @ {\n rule default {\n  primary a {\n   pool a weight 3\n  }\n }\n all-down fallback 192.0.2.9\n}"))
	f.Add("gtm example.org {\n pool a {\n address\n}")
	f.Fuzz(func(t *testing.T, input string) {
		cfg, _, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			return
		}
		g := New(cfg)
		for _, in := range cfg.Instances {
			query(t, g, in.Name, dns.TypeA, true)
		}
	})
}
