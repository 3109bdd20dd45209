package health

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
)

// scaleSpecs is n specs of one TCP monitor, each for its own loopback
// address (127.1.0.0 on): issue 9's 100,000 probed addresses. The interval
// is an hour, so that only the first round's few probes run while the
// benchmark measures, and they are refused at once by this machine.
func scaleSpecs(n int) []Spec {
	m := config.NewMonitor(config.Pos{}, "m")
	m.Protocol, m.Port, m.Interval, m.Timeout = config.ProtoTCP, 9, time.Hour, time.Second
	specs := make([]Spec, n)
	for i := range specs {
		host := fmt.Sprintf("127.%d.%d.%d", 1+i>>16, i>>8&255, i&255)
		specs[i] = Spec{Key: Key{Pool: fmt.Sprintf("p%d", i/2), Address: host}, Host: host, Monitor: m}
	}
	return specs
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScaleAcquire acquires 100,000 checks for one owner on a new
// manager, then releases them. It reports the time and allocations of
// Acquire, and the heap it leaves live, per check.
func BenchmarkScaleAcquire(b *testing.B) {
	const n = 100_000
	specs := scaleSpecs(n)
	o := &owner{}
	var retained, allocs uint64
	var took time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		before := liveHeap()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		// As the plugin's: an observer per monitor name.
		m := &Manager{Observe: func(string) Observer { return nopObserver{} }}
		b.StartTimer()
		start := time.Now()
		checks, _ := m.Acquire(o, specs)
		took += time.Since(start)
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		allocs += ms1.Mallocs - ms0.Mallocs
		// The owner's map of checks is its own (the plugin keeps it in
		// its shards); only what the manager keeps counts.
		clear(checks)
		checks = nil
		retained += liveHeap() - before
		m.Release(o, specs)
		m.Wait()
		runs++
		b.StartTimer()
	}
	b.ReportMetric(float64(took.Nanoseconds())/float64(runs*n), "ns/check")
	b.ReportMetric(float64(allocs)/float64(runs*n), "allocs/check")
	b.ReportMetric(float64(retained)/float64(runs*n), "B/check")
}

type nopObserver struct{}

func (nopObserver) Observe(Result) {}
