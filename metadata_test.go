package gtm

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// The handler gives its decision to the metadata plugin's functions, and a
// handler the metadata plugin never asked looks for no holder.
func TestMetadata(t *testing.T) {
	g := newGTM(t, `
pool a {
	address 192.0.2.1
}
pool b {
	address 192.0.2.2
}
instance www {
	primary a
	rule cidr 10.0.0.0/8 {
		primary b
	}
}`)
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	if d := g.decision(context.Background()); d != nil {
		t.Fatal("a decision holder without the metadata plugin")
	}
	ctx := metadata.ContextWithMetadata(context.Background())
	ctx = g.Metadata(ctx, request.Request{Req: m, W: &test.ResponseWriter{}})
	value := func(label string) string { return metadata.ValueFunc(ctx, label)() }
	if v := value("gtm/rule"); v != "" {
		t.Errorf("gtm/rule before the query: %q", v)
	}
	if _, err := g.ServeDNS(ctx, dnstest.NewRecorder(&test.ResponseWriter{}), m); err != nil {
		t.Fatal(err)
	}
	for label, want := range map[string]string{"gtm/instance": "www.example.org.", "gtm/rule": "cidr 10.0.0.0/8",
		"gtm/state": "primary", "gtm/pools": "b", "gtm/client": "10.240.0.1/32"} { // test.ResponseWriter asks from 10.240.0.1 {
		if got := value(label); got != want {
			t.Errorf("%s = %q, want %q", label, got, want)
		}
	}
}

// BenchmarkServeDNSMetadata is a whole query as the metadata plugin makes
// it (a metadata context, gtm's five functions, then the query), beside
// the same query without the metadata plugin, and log reading one value.
func BenchmarkServeDNSMetadata(b *testing.B) {
	g := newGTM(b, `
pool three {
	address 192.0.2.1 192.0.2.2 192.0.2.3
}
instance www {
	primary three
}`)
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	m.SetEdns0(1232, false)
	w := &packWriter{buf: make([]byte, 0, 1232)}
	b.Run("without", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.ServeDNS(context.Background(), w, m)
		}
	})
	b.Run("with", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx := metadata.ContextWithMetadata(context.Background())
			ctx = g.Metadata(ctx, request.Request{Req: m, W: w})
			g.ServeDNS(ctx, w, m)
			metadata.ValueFunc(ctx, "gtm/rule")()
		}
	})
}
