package engine

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// handTraffic makes the traffic recorder record only when the test says
// (record), minutes of every, from an empty history; as before when the
// test ends. No engine may run.
func handTraffic(t testing.TB, every time.Duration) {
	t.Helper()
	setTraffic := func(manual bool, every time.Duration) {
		traffic.life.Lock()
		defer traffic.life.Unlock()
		if traffic.users != 0 {
			t.Fatalf("%d engines run: the recorder cannot change", traffic.users)
		}
		traffic.manual, traffic.every = manual, every
		traffic.mu.Lock()
		clear(traffic.hists)
		traffic.budget = defaultTrafficBudget
		traffic.mu.Unlock()
	}
	setTraffic(true, every)
	t.Cleanup(func() { setTraffic(false, time.Minute) })
}

// t0 is a whole minute to record from.
var t0 = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

func minute(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func ask(t *testing.T, e *Engine, name string, n int) {
	t.Helper()
	for range n {
		query(t, e, name, dns.TypeA)
	}
}

type wantMinute struct {
	start time.Time
	pools map[string]uint64
}

func checkMinutes(t *testing.T, what string, got []Minute, want []wantMinute) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d minutes %v, want %d", what, len(got), got, len(want))
	}
	for i, w := range want {
		var total uint64
		for _, n := range w.pools {
			total += n
		}
		if !got[i].Start.Equal(w.start) || !maps.Equal(got[i].Pools, w.pools) || got[i].Total != total {
			t.Errorf("%s: minute %d is %v %v total %d, want %v %v total %d", what, i,
				got[i].Start.UTC(), got[i].Pools, got[i].Total, w.start, w.pools, total)
		}
	}
}

// Answers are filed under the minute they were given in, by instance and
// pool; a pool's minutes add up every instance that answered from it.
func TestTrafficPerMinute(t *testing.T) {
	handTraffic(t, time.Minute)
	e := started(t, "pool a {\n address 192.0.2.1\n}\npool b {\n address 192.0.2.2\n}\n"+
		"instance www {\n primary a\n secondary b\n}\ninstance api {\n primary b\n}\ninstance two {\n primary b\n}")
	www, api, two := "www.example.org.", "api.example.org.", "two.example.org."

	ask(t, e, www, 3)
	ask(t, e, api, 2)
	traffic.record(minute(1))
	traffic.record(minute(2)) // a minute without answers
	// Pool a fails: www answers from b, as two does.
	e.UseHealth(health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy})
	ask(t, e, www, 4)
	ask(t, e, two, 5)
	traffic.record(minute(3))

	checkMinutes(t, "www", e.Traffic(www, time.Time{}), []wantMinute{
		{minute(0), map[string]uint64{"a": 3}}, {minute(1), nil}, {minute(2), map[string]uint64{"b": 4}}})
	checkMinutes(t, "www since its second minute", e.Traffic("WWW.example.org", minute(1)), []wantMinute{
		{minute(1), nil}, {minute(2), map[string]uint64{"b": 4}}})
	checkMinutes(t, "api", e.Traffic(api, time.Time{}), []wantMinute{
		{minute(0), map[string]uint64{"b": 2}}, {minute(1), nil}, {minute(2), nil}})
	checkMinutes(t, "pool a", e.TrafficPool("a", time.Time{}), []wantMinute{
		{minute(0), map[string]uint64{"a": 3}}, {minute(1), nil}, {minute(2), nil}})
	checkMinutes(t, "pool b", e.TrafficPool("b", time.Time{}), []wantMinute{
		{minute(0), map[string]uint64{"b": 2}}, {minute(1), nil}, {minute(2), map[string]uint64{"b": 9}}})
	checkMinutes(t, "an instance that never answered", e.Traffic("none.example.org.", time.Time{}), []wantMinute{
		{minute(0), nil}, {minute(1), nil}, {minute(2), nil}})
	if got := e.Traffic("www.example.net.", time.Time{}); got != nil {
		t.Errorf("a name outside the zones: %v", got)
	}
}

// Minutes are found by instance in a minute of many, across the marks
// that spare reading a whole minute.
func TestTrafficManyInstances(t *testing.T) {
	handTraffic(t, time.Minute)
	const n = 1000
	e := started(t, testkit.ScaleBody(n))
	want := map[int]uint64{}
	for i := 0; i < n; i += 3 {
		k := i%7 + 1
		ask(t, e, fmt.Sprintf("i%d.example.org.", i), k)
		want[i] = uint64(k)
	}
	traffic.record(minute(1))
	for i := range n {
		got := e.Traffic(fmt.Sprintf("i%d.example.org.", i), time.Time{})
		var w map[string]uint64
		if want[i] > 0 {
			w = map[string]uint64{fmt.Sprintf("p%d", i): want[i]}
		}
		checkMinutes(t, fmt.Sprintf("i%d", i), got, []wantMinute{{minute(0), w}})
	}
	if pm := e.TrafficPool("p999", time.Time{}); len(pm) != 1 || pm[0].Total != want[999] {
		t.Errorf("pool p999: %v, want %d answers", pm, want[999])
	}
}

// A reload's new engine shares the instances' counters and the history:
// nothing is counted twice while both run, nothing forgotten after.
func TestTrafficAcrossReload(t *testing.T) {
	handTraffic(t, time.Minute)
	body := "pool a {\n address 192.0.2.1\n}\ninstance www {\n primary a\n}"
	old := Start(newEngine(t, body))
	www := "www.example.org."
	ask(t, old, www, 2)
	traffic.record(minute(1))
	e := started(t, body+"\ninstance more {\n primary a\n}")
	ask(t, e, www, 3)
	ask(t, old, www, 1) // the old one still answers until the reload is confirmed
	traffic.record(minute(2))
	old.Stop()
	ask(t, e, www, 4)
	traffic.record(minute(3))
	checkMinutes(t, "www through the reload", e.Traffic(www, time.Time{}), []wantMinute{
		{minute(0), map[string]uint64{"a": 2}}, {minute(1), map[string]uint64{"a": 4}}, {minute(2), map[string]uint64{"a": 4}}})
}

// The history holds 24 hours of minutes, and no more bytes than its
// budget: the oldest minutes go first.
func TestTrafficBounds(t *testing.T) {
	handTraffic(t, time.Minute)
	e := started(t, "pool a {\n address 192.0.2.1\n}\ninstance www {\n primary a\n}")
	www := "www.example.org."
	for i := 1; i <= trafficSlots+10; i++ {
		ask(t, e, www, i%3+1)
		traffic.record(minute(i))
	}
	got := e.Traffic(www, time.Time{})
	if len(got) != trafficSlots || !got[0].Start.Equal(minute(10)) || got[0].Total != 11%3+1 ||
		!got[len(got)-1].Start.Equal(minute(trafficSlots+9)) {
		t.Fatalf("%d minutes from %v to %v (first %d answers), want %d from %v", len(got), got[0].Start.UTC(),
			got[len(got)-1].Start.UTC(), got[0].Total, trafficSlots, minute(10))
	}

	// A budget of about 100 minutes of this instance.
	traffic.mu.Lock()
	h := traffic.hists[zonesKey(e.cfg)]
	perMinute := h.size / trafficSlots
	traffic.budget = 100 * perMinute
	traffic.mu.Unlock()
	ask(t, e, www, 1)
	traffic.record(minute(trafficSlots + 11))
	got = e.Traffic(www, time.Time{})
	if len(got) > 100 || len(got) < 90 || !got[len(got)-1].Start.Equal(minute(trafficSlots+10)) || got[len(got)-1].Total != 1 {
		t.Errorf("within a budget of 100 minutes' bytes, %d minutes kept, the newest %v with %d answers",
			len(got), got[len(got)-1].Start.UTC(), got[len(got)-1].Total)
	}
	traffic.mu.Lock()
	size, budget := h.size, traffic.budget
	traffic.mu.Unlock()
	if size > budget {
		t.Errorf("the history holds %d bytes, over its budget of %d", size, budget)
	}
}

// Without a hand on it, the recorder runs from the first engine's start
// to the last one's stop, on whole multiples of its interval, and leaves
// nothing running behind it.
func TestTrafficRecorderRuns(t *testing.T) {
	const every = 50 * time.Millisecond
	handTraffic(t, every)
	traffic.life.Lock()
	traffic.manual = false
	traffic.life.Unlock()
	ignore := goleak.IgnoreCurrent()
	e := Start(newEngine(t, "pool a {\n address 192.0.2.1\n}\ninstance www {\n primary a\n}"))
	www := "www.example.org."
	ask(t, e, www, 7)
	sum := func() (n uint64) {
		for _, m := range e.Traffic(www, time.Time{}) {
			n += m.Total
			if m.Start.UnixNano()%int64(every) != 0 {
				t.Fatalf("a minute starts at %v, not a multiple of %s", m.Start, every)
			}
		}
		return n
	}
	testkit.Eventually(t, "the answers recorded", 3*time.Second, func() bool { return sum() == 7 })
	ask(t, e, www, 2)
	testkit.Eventually(t, "the next answers recorded", 3*time.Second, func() bool { return sum() == 9 })
	e.Stop()
	proc.health.Wait()
	if err := goleak.Find(ignore); err != nil {
		t.Fatalf("after the last engine stopped: %v", err)
	}
	// Stopped: nothing records any more.
	n := len(e.Traffic(www, time.Time{}))
	time.Sleep(3 * every)
	if got := len(e.Traffic(www, time.Time{})); got != n {
		t.Errorf("%d minutes recorded after the last engine stopped", got-n)
	}
}
