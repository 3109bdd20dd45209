package engine

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"go.uber.org/goleak"
)

// lastSeq is the Seq of the newest event recorded so far (0 for none).
func lastSeq() uint64 {
	evs := Events()
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// findEvent is the first event after seq that match accepts, or nil.
func findEvent(after uint64, match func(health.Event) bool) *health.Event {
	for _, ev := range EventsSince(after) {
		if match(ev) {
			return &ev
		}
	}
	return nil
}

// Every place that records an event says what it concerns: a verdict the
// pools that share the probed address, a switchover its instance, rule and
// pools, a change its objects, a start or reload its configuration.
func TestEventFields(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	from := lastSeq()
	// Pool c probes the dead address too: one check, one event for both pools.
	body := testkit.FailoverBody(dead, live, "pool c {\n monitor dead\n address 127.0.0.1\n}\ninstance other {\n primary c\n}")
	e := started(t, body)
	www := "www.example.org."
	testkit.Eventually(t, "failover", 3*time.Second, func() bool { return e.State(www, "default") == StateSecondary })

	if ev := findEvent(from, func(ev health.Event) bool { return ev.Kind == health.KindConfig }); ev == nil ||
		ev.Object != "configuration "+e.key[:12] || ev.New != "started" || !strings.Contains(ev.Reason, "example.org.") {
		t.Errorf("start event: %+v", ev)
	}
	addr := findEvent(from, func(ev health.Event) bool { return ev.Kind == health.KindAddress })
	if addr == nil || addr.Object != "address a/127.0.0.1, c/127.0.0.1" || !slices.Equal(addr.Pools, []string{"a", "c"}) ||
		!slices.Equal(addr.Addresses, []string{"127.0.0.1"}) || addr.New != "unhealthy" || addr.Instances != nil {
		t.Errorf("verdict event: %+v", addr)
	}
	sw := findEvent(from, func(ev health.Event) bool {
		return ev.Kind == health.KindSwitchover && slices.Equal(ev.Instances, []string{www})
	})
	if sw == nil || sw.Object != "instance "+www || sw.Rule != "default" || !slices.Equal(sw.Pools, []string{"a", "b"}) ||
		sw.Old != "primary" || sw.New != "secondary" || sw.Addresses != nil {
		t.Errorf("switchover event: %+v", sw)
	}
	if sw != nil && addr != nil && sw.Seq <= addr.Seq {
		t.Errorf("the switchover (Seq %d) was recorded before the verdict that caused it (Seq %d)", sw.Seq, addr.Seq)
	}

	// Overrides alone: kind override, with every object they name.
	from = lastSeq()
	if err := e.Apply(Change{Pins: map[string]config.Switch{www: config.SwitchPrimary, "other.example.org.": config.SwitchPrimary},
		Modes: map[health.Key]config.Mode{{Pool: "a", Address: "127.0.0.1"}: config.ModeUp}}); err != nil {
		t.Fatal(err)
	}
	ov := findEvent(from, func(ev health.Event) bool { return ev.Kind == health.KindOverride })
	if ov == nil || !slices.Equal(ov.Instances, []string{"other.example.org.", www}) || !slices.Equal(ov.Pools, []string{"a"}) ||
		!slices.Equal(ov.Addresses, []string{"127.0.0.1"}) || ov.New != "applied" {
		t.Errorf("override event: %+v", ov)
	}
	if back := findEvent(from, func(ev health.Event) bool { return ev.Kind == health.KindSwitchover && ev.New == "primary" }); back == nil ||
		back.Reason != "pinned to primary" {
		t.Errorf("switchover of the pin: %+v", back)
	}

	// Pools: kind config; a release alone is an override again.
	from = lastSeq()
	if err := e.Apply(Change{Pools: []*config.Pool{poolOf("b", "live", "127.0.0.2", "127.0.0.3")}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(Change{Release: []string{www}}); err != nil {
		t.Fatal(err)
	}
	kinds := map[string][]string{}
	for _, ev := range EventsSince(from) {
		kinds[ev.Kind] = append(kinds[ev.Kind], strings.Join(ev.Pools, ",")+"|"+strings.Join(ev.Instances, ","))
	}
	if !slices.Equal(kinds[health.KindConfig], []string{"b|"}) || !slices.Equal(kinds[health.KindOverride], []string{"|" + www}) {
		t.Errorf("events of a change of pools and a release: %v", kinds)
	}

	// A reload: the new configuration says which one it replaces.
	from = lastSeq()
	cur := e.snap.Load().idx.sum.String()[:12]
	n := Start(newEngine(t, body+"\ninstance more {\n primary b\n}"))
	defer n.Stop()
	if ev := findEvent(from, func(ev health.Event) bool { return ev.Kind == health.KindConfig }); ev == nil ||
		ev.Object != "configuration "+n.key[:12] || !strings.Contains(ev.Reason, "reload, replacing configuration "+cur) {
		t.Errorf("reload event: %+v", ev)
	}
}

// Subscribers get the process's events as they are recorded, in order,
// and a subscriber that does not read holds no one up: the changes that
// record events go on at their own pace, its losses are counted, and
// closing it ends its channel and leaves no goroutine behind.
func TestSubscribe(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	e := Start(newEngine(t, "pool a {\n address 192.0.2.1\n}\npool b {\n address 192.0.2.2\n}\ninstance www {\n primary a\n secondary b\n}"))
	dropped, _ := metrictest.Value(t, "events_dropped_total")
	from := lastSeq()
	fast, slow := Subscribe(4096), Subscribe(1)
	var got []uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range fast.C {
			got = append(got, ev.Seq)
		}
	})

	// Each change records two events (the pin, the switch). If recording
	// waited for the slow subscriber, the second would never be recorded.
	const changes = 500
	done := make(chan error, 1)
	go func() {
		for i := range changes {
			sw := config.SwitchSecondary
			if i%2 == 1 {
				sw = config.SwitchAuto
			}
			if err := e.Apply(Change{Pins: map[string]config.Switch{"www.example.org.": sw}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%d changes not applied within 20s with a subscriber that does not read", changes)
	}

	want := EventsSince(from)
	if len(want) != 2*changes {
		t.Fatalf("%d events recorded for %d changes, want %d", len(want), changes, 2*changes)
	}
	fast.Close()
	wg.Wait()
	if !slices.Equal(got, seqs(want)) || fast.Dropped() != 0 {
		t.Errorf("the fast subscriber got %d events (dropped %d); the history has %d", len(got), fast.Dropped(), len(want))
	}
	if d := slow.Dropped(); d != 2*changes-1 {
		t.Errorf("the slow subscriber dropped %d, want all but the first of %d", d, 2*changes)
	}
	if now, _ := metrictest.Value(t, "events_dropped_total"); now-dropped != float64(slow.Dropped()) {
		t.Errorf("events_dropped_total rose by %v, the subscriber dropped %d", now-dropped, slow.Dropped())
	}
	slow.Close()
	if first, ok := <-slow.C; !ok || first.Seq != want[0].Seq {
		t.Errorf("the slow subscriber's one buffered event: %+v, %v", first, ok)
	}
	if _, ok := <-slow.C; ok {
		t.Error("the closed subscription's channel is still open")
	}
	// Closed: recording goes on without it.
	if err := e.Apply(Change{Pins: map[string]config.Switch{"www.example.org.": config.SwitchSecondary}}); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	proc.health.Wait()
	if err := goleak.Find(ignore); err != nil {
		t.Fatal(err)
	}
}

func seqs(evs []health.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}
