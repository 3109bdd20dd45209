package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
)

// BenchmarkScaleTraffic is the traffic history of 100,000 instances over
// 24 hours of minutes: every instance answering every minute (the worst
// case: nothing sparse to save), or one in ten; within the default budget
// or without one. It reports the history's share of the live heap, its
// bytes per minute, the minutes it keeps and the time a minute's
// recording takes. (Run with -benchtime 1x: one run records 1,440
// minutes.)
//
// The answers are added to the instances' own answer counters, as Answer
// adds to them: 144 million real answers would take the benchmark hours.
func BenchmarkScaleTraffic(b *testing.B) {
	const n = 100_000
	for _, tc := range []struct {
		name   string
		share  int // answering instances, in percent
		budget int
	}{
		{"all/budget", 100, defaultTrafficBudget},
		{"all/unbounded", 100, 1 << 40},
		{"tenth/unbounded", 10, 1 << 40},
	} {
		b.Run(tc.name, func(b *testing.B) {
			handTraffic(b, time.Minute)
			traffic.mu.Lock()
			traffic.budget = tc.budget
			traffic.mu.Unlock()
			e := Start(New(scaleConfig(b, n)))
			defer e.Stop()
			deadline := time.Now().Add(2 * time.Minute)
			for !Ready() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			// Steady state: the first verdicts are compiled after Ready, and
			// a compile holds two snapshots.
			time.Sleep(2 * time.Second)
			var ins []*instance
			e.snap.Load().names.each(func(_ string, in *instance) { ins = append(ins, in) })
			before := testkit.HeapMB()
			var took time.Duration
			for b.Loop() {
				took = 0
				for m := 1; m <= trafficSlots; m++ {
					for i, in := range ins {
						if (i+m)%100 < tc.share {
							in.answers[0].c.n.Add(uint64(1 + (i+m)%100))
						}
					}
					start := time.Now()
					traffic.record(minute(m))
					took += time.Since(start)
				}
			}
			h := traffic.history(zonesKey(e.cfg), false)
			kept := len(e.Traffic("i1.example.org.", time.Time{}))
			traffic.mu.Lock()
			size := h.size
			traffic.mu.Unlock()
			b.ReportMetric(float64(size)/(1<<20), "history-MB")
			b.ReportMetric(float64(size)/float64(kept)/1024, "KB/minute")
			b.ReportMetric(float64(kept), "minutes")
			b.ReportMetric(float64(took.Milliseconds())/trafficSlots, "record-ms")
			// A console's question: one instance's and one pool's day.
			start := time.Now()
			for i := range 100 {
				e.Traffic(fmt.Sprintf("i%d.example.org.", i*997), time.Time{})
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/100, "instance-day-µs")
			start = time.Now()
			for i := range 100 {
				e.TrafficPool(fmt.Sprintf("p%d", i*997), time.Time{})
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/100, "pool-day-µs")
			// The heap with the history and without it, the engine as it
			// was: a comparison with the heap before the minutes were
			// recorded moves by tens of MB with the probes' state.
			with := testkit.HeapMB()
			traffic.mu.Lock()
			clear(traffic.hists)
			traffic.mu.Unlock()
			b.ReportMetric(with-testkit.HeapMB(), "heap-MB")
			b.ReportMetric(with-before, "heap-growth-MB")
		})
	}
}
