package health

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
)

// owner counts what the manager tells it.
type owner struct{ verdicts, moves atomic.Int32 }

func (o *owner) HealthChanged(_ *Check, verdict bool) {
	if verdict {
		o.verdicts.Add(1)
	} else {
		o.moves.Add(1)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tcpSpec is a spec probing a live loopback listener every interval.
func tcpSpec(t *testing.T, ln net.Listener, pool string, interval time.Duration) Spec {
	t.Helper()
	port := ln.Addr().(*net.TCPAddr).Port
	m := config.NewMonitor(config.Pos{}, "m-"+pool)
	m.Protocol, m.Port, m.Interval, m.Timeout, m.Rise, m.Fall = config.ProtoTCP, port, interval, interval/2, 1, 1
	return Spec{Key: Key{Pool: pool, Address: "127.0.0.1"}, Host: "127.0.0.1", Monitor: m}
}

// Owners asking for the same probe of the same host share one check and
// hear of its verdicts; the last to release it stops its probing.
func TestManagerSharesChecks(t *testing.T) {
	ln, accepted := acceptor(t, "127.0.0.1:0")
	m := &Manager{}
	a, b := &owner{}, &owner{}
	sa := tcpSpec(t, ln, "a", 100*time.Millisecond)
	sb := sa
	sb.Key.Pool = "b" // another pool, another owner, the same probe
	ca, _ := m.Acquire(a, []Spec{sa})
	cb, _ := m.Acquire(b, []Spec{sb})
	if m.Len() != 1 || ca[sa.Key] != cb[sb.Key] {
		t.Fatalf("%d checks for one probe of one host", m.Len())
	}
	waitFor(t, "first verdict", func() bool { return ca[sa.Key].Status() == Healthy })
	waitFor(t, "both owners told", func() bool { return a.verdicts.Load() == 1 && b.verdicts.Load() == 1 })
	// About 10 probes a second for the two of them, not 20.
	time.Sleep(100 * time.Millisecond)
	from := accepted.Load()
	time.Sleep(time.Second)
	if n := accepted.Load() - from; n > 15 {
		t.Errorf("%d probes in 1s at interval 100ms: the check is probed more than once", n)
	}
	m.Release(a, []Spec{sa})
	if m.Len() != 1 {
		t.Fatal("a check still in use was dropped")
	}
	m.Release(b, []Spec{sb})
	if m.Len() != 0 {
		t.Fatal("a check nobody uses is kept")
	}
	m.Wait()
	settled := accepted.Load()
	time.Sleep(300 * time.Millisecond)
	if n := accepted.Load(); n != settled {
		t.Errorf("probes went on after every owner released the check: %d then %d", settled, n)
	}
}

// A check whose probe matches a running one but for interval, rise and fall
// starts from its verdict and latency.
func TestManagerCarriesVerdict(t *testing.T) {
	ln, _ := acceptor(t, "127.0.0.1:0")
	m := &Manager{}
	a, b := &owner{}, &owner{}
	sa := tcpSpec(t, ln, "a", 100*time.Millisecond)
	ca, _ := m.Acquire(a, []Spec{sa})
	waitFor(t, "first verdict", func() bool { return ca[sa.Key].Status() == Healthy })
	sb := sa
	mon := *sa.Monitor
	mon.Interval, mon.Rise, mon.Fall = 5*time.Second, 4, 5
	sb.Monitor = &mon
	cb, carried := m.Acquire(b, []Spec{sb})
	if carried != 1 || cb[sb.Key].Status() != Healthy || cb[sb.Key] == ca[sa.Key] {
		t.Fatalf("carried %d, status %s: the new schedule did not start from the known verdict", carried, cb[sb.Key].Status())
	}
	if cb[sb.Key].Record().Latency.Samples == 0 {
		t.Error("the latency average was not carried over")
	}
	if v := cb[sb.Key].Record().Vantage; v != LocalVantage {
		t.Errorf("the verdict's vantage is %q, want %q", v, LocalVantage)
	}
	// Another port is another probe: nothing to carry.
	sc := sa
	other := *sa.Monitor
	other.Port++
	sc.Monitor = &other
	if _, carried := m.Acquire(b, []Spec{sc}); carried != 0 {
		t.Error("a verdict was carried to a different probe")
	}
	m.Release(a, []Spec{sa})
	m.Release(b, []Spec{sb, sc})
	m.Wait()
}

// Adding and removing targets leaves the others' schedule alone.
func TestSchedulerAddRemove(t *testing.T) {
	f := &fake{running: new(atomic.Int32), maxSeen: new(atomic.Int32)}
	var mu sync.Mutex
	count := map[string]int{}
	s := &Scheduler{OnResult: func(t *Target, _ Result) {
		mu.Lock()
		count[t.Host]++
		mu.Unlock()
	}}
	got := func(h string) int {
		mu.Lock()
		defer mu.Unlock()
		return count[h]
	}
	ts := fakeTargets(3, 100*time.Millisecond, f)
	s.Start(ts[:1])
	defer s.Stop()
	waitFor(t, "first probe", func() bool { return got(ts[0].Host) >= 1 })
	s.Add(ts[1], ts[2])
	waitFor(t, "added targets probed", func() bool { return got(ts[1].Host) >= 2 && got(ts[2].Host) >= 2 })
	if s.Len() != 3 {
		t.Fatalf("%d targets, want 3", s.Len())
	}
	s.Remove(ts[0])
	time.Sleep(50 * time.Millisecond) // a probe in flight may still end
	removed := got(ts[0].Host)
	time.Sleep(300 * time.Millisecond)
	if n := got(ts[0].Host); n != removed {
		t.Errorf("a removed target was probed %d more times", n-removed)
	}
	if n := got(ts[1].Host); n < 4 {
		t.Errorf("the remaining targets stalled: %d results", n)
	}
}

// A record says since when its verdict holds: set by the first verdict and
// by every change, kept while probes only agree.
func TestManagerVerdictSince(t *testing.T) {
	ln, _ := acceptor(t, "127.0.0.1:0")
	m := &Manager{}
	o := &owner{}
	s := tcpSpec(t, ln, "a", 50*time.Millisecond)
	before := time.Now()
	cs, _ := m.Acquire(o, []Spec{s})
	c := cs[s.Key]
	waitFor(t, "first verdict", func() bool { return c.Status() == Healthy })
	first := c.Record().Since
	if first.Before(before) || first.After(time.Now()) {
		t.Fatalf("since %v for a first verdict reached after %v", first, before)
	}
	// More passing probes: the verdict stands, and so does its time.
	n := c.Record().Last.Start
	waitFor(t, "two more probes", func() bool { return c.Record().Last.Start.Sub(n) >= 80*time.Millisecond })
	if got := c.Record().Since; !got.Equal(first) {
		t.Errorf("since moved from %v to %v while the verdict stood", first, got)
	}
	// The listener goes: the next verdict is unhealthy, with its own time.
	ln.Close()
	waitFor(t, "unhealthy", func() bool { return c.Status() == Unhealthy })
	if got := c.Record().Since; !got.After(first) {
		t.Errorf("since %v after the verdict changed, first verdict at %v", got, first)
	}
	m.Release(o, []Spec{s})
	m.Wait()
}
