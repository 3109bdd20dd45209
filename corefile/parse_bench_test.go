package corefile

import (
	"runtime"
	"testing"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/internal/testkit"
)

// BenchmarkScaleParse reads the 100,000-instance Corefile of issue 9 into a
// configuration, without validating it: the parser alone. Caddy's lexer,
// which reads the Corefile into tokens before any plugin's setup, is left
// out of the time and the allocations. heap-MB is what the configuration
// holds once the tokens are gone.
func BenchmarkScaleParse(b *testing.B) {
	body := testkit.Block(testkit.ScaleBody(100_000))
	b.ReportAllocs()
	var cfg *config.Config
	for b.Loop() {
		b.StopTimer()
		cfg = nil
		mb, objs := testkit.Heap()
		c := caddy.NewTestController("dns", body)
		b.StartTimer()
		var err error
		if cfg, _, err = parseBlock(c); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		mb1, objs1 := testkit.Heap()
		b.ReportMetric(mb1-mb, "heap-MB")
		b.ReportMetric(objs1-objs, "heap-objects")
		b.StartTimer()
	}
	runtime.KeepAlive(cfg)
}
