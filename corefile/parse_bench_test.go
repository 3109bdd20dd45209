package corefile

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
)

// scaleBody is n instances, each with its own pool of two addresses, half of
// the pools probed: the shape issue 9's numbers are measured on (the same
// as engine's).
func scaleBody(n int) string {
	var b strings.Builder
	b.WriteString("monitor m {\n protocol tcp\n port 9\n interval 1h\n timeout 1s\n}\n")
	addr := func(n int) string { return fmt.Sprintf("127.%d.%d.%d", 1+n>>16, n>>8&255, n&255) }
	for i := range n {
		fmt.Fprintf(&b, "pool p%d {\n", i)
		if i%2 == 0 {
			b.WriteString(" monitor m\n")
		}
		fmt.Fprintf(&b, " address %s %s\n}\ninstance i%d {\n primary p%d\n}\n", addr(2*i), addr(2*i+1), i, i)
	}
	return b.String()
}

func heapMB() float64 {
	mb, _ := heap()
	return mb
}

// heap is the live heap in MB and in objects: the collector's marking work
// grows with the objects as much as with the bytes.
func heap() (float64, float64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20), float64(m.HeapObjects)
}

// BenchmarkScaleParse reads the 100,000-instance Corefile of issue 9 into a
// configuration, without validating it: the parser alone. Caddy's lexer,
// which reads the Corefile into tokens before any plugin's setup, is left
// out of the time and the allocations. heap-MB is what the configuration
// holds once the tokens are gone.
func BenchmarkScaleParse(b *testing.B) {
	body := block(scaleBody(100_000))
	b.ReportAllocs()
	var cfg *config.Config
	for b.Loop() {
		b.StopTimer()
		cfg = nil
		mb, objs := heap()
		c := caddy.NewTestController("dns", body)
		b.StartTimer()
		var err error
		if cfg, _, err = parseBlock(c); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		mb1, objs1 := heap()
		b.ReportMetric(mb1-mb, "heap-MB")
		b.ReportMetric(objs1-objs, "heap-objects")
		b.StartTimer()
	}
	runtime.KeepAlive(cfg)
}
