package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
)

// Status follows real probes: a failed primary, a healthy secondary, a
// manual-failback hold and its release, an operator's mode and pin, each
// where the API reads it.
func TestStatus(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	e := started(t, testkit.FailoverBody(dead, live, "pool c {\n address 192.0.2.7 192.0.2.8\n}\ninstance plain {\n primary c\n}\n"))
	www := "www.example.org."
	start := time.Now()
	testkit.Eventually(t, "failover", 3*time.Second, func() bool { return e.State(www, "default") == StateSecondary })
	testkit.Eventually(t, "the secondary healthy", 3*time.Second, func() bool {
		return e.Health(health.Key{Pool: "b", Address: "127.0.0.2"}) == health.Healthy
	})
	time.Sleep(150 * time.Millisecond) // the compile after the verdict
	degraded := uint32(min(60, config.DefaultDegradedTTL))

	in, ok := e.InstanceStatus("WWW.example.org") // any case, the final dot optional
	if !ok {
		t.Fatal("no status for www")
	}
	want := RuleStatus{Name: "default", State: StateSecondary, ActiveCollection: "secondary",
		Why: "primary below its availability rule", Degraded: true, TTL: degraded}
	if len(in.Rules) != 1 || !reflect.DeepEqual(in.Rules[0], want) {
		t.Errorf("rules %+v\nwant %+v", in.Rules, want)
	}
	if in.Name != www || in.TTL != degraded || in.Policy != "geo" || in.Type != "A" || in.Failback != "manual" || in.Switch != "auto" || in.Pin != "" {
		t.Errorf("instance %+v", in)
	}
	a, ok := e.PoolStatus("a")
	if !ok || a.Available || a.Usable != 0 || a.Total != 1 || a.Monitor != "dead" || len(a.Addresses) != 1 {
		t.Fatalf("pool a %+v", a)
	}
	da := a.Addresses[0]
	if da.Value != "127.0.0.1" || da.Health != "unhealthy" || !da.Probed || da.Usable || da.Vantage != health.LocalVantage ||
		da.Mode != "auto" || da.EffectiveMode != "auto" || da.Override != "" {
		t.Errorf("the dead address %+v", da)
	}
	if da.Since.Before(start) || da.Since.After(time.Now()) {
		t.Errorf("the dead address unhealthy since %v, the test started at %v", da.Since, start)
	}
	if p := da.LastProbe; p == nil || p.OK || !strings.Contains(p.Error, "refused") || p.Time.Before(start) {
		t.Errorf("the dead address's last probe %+v", p)
	}
	b, _ := e.PoolStatus("b")
	lb := b.Addresses[0]
	if !b.Available || lb.Health != "healthy" || !lb.Usable || lb.LastProbe == nil || !lb.LastProbe.OK || lb.LastProbe.RTT <= 0 ||
		lb.Latency == nil || lb.Latency.Samples == 0 || lb.Latency.Vantage != health.LocalVantage {
		t.Errorf("the live pool %+v, its address %+v", b, lb)
	}

	// The primary comes back: the hold keeps the secondary, and says so.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", dead))
	if err != nil {
		t.Fatalf("the primary's port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	testkit.Eventually(t, "the hold", 3*time.Second, func() bool {
		in, _ := e.InstanceStatus(www)
		return in.Rules[0].FailbackHold
	})
	in, _ = e.InstanceStatus(www)
	if r := in.Rules[0]; r.State != StateSecondary || !strings.HasPrefix(r.Why, "manual failback") {
		t.Errorf("held: %+v", r)
	}
	if err := e.Apply(Change{Release: []string{www}}); err != nil {
		t.Fatal(err)
	}
	in, _ = e.InstanceStatus(www)
	if r := in.Rules[0]; r.FailbackHold || r.State != StatePrimary || r.Degraded || r.TTL != 60 || in.TTL != 60 {
		t.Errorf("released: %+v", in)
	}

	// An operator's mode and pin.
	if err := e.Apply(Change{Modes: map[health.Key]config.Mode{{Pool: "c", Address: "192.0.2.8"}: config.ModeDown},
		Pins: map[string]config.Switch{"plain.example.org.": config.SwitchPrimary}}); err != nil {
		t.Fatal(err)
	}
	c, _ := e.PoolStatus("c")
	if c.Usable != 1 || c.Total != 2 || c.Monitor != "" {
		t.Errorf("pool c %+v", c)
	}
	if ad := c.Addresses[1]; ad.Mode != "auto" || ad.Override != "down" || ad.EffectiveMode != "down" || ad.Usable || ad.Probed || ad.Health != "unknown" {
		t.Errorf("the address forced down %+v", ad)
	}
	if ad := c.Addresses[0]; ad.Override != "" || !ad.Usable || ad.LastProbe != nil || !ad.Since.IsZero() {
		t.Errorf("the address left alone %+v", ad)
	}
	plain, _ := e.InstanceStatus("plain.example.org.")
	if plain.Pin != "primary" || plain.Rules[0].Pin == nil || *plain.Rules[0].Pin != (Pin{Switch: "primary", Scope: "instance", Replaces: "auto"}) {
		t.Errorf("the pinned instance %+v, its rule's pin %+v", plain, plain.Rules[0].Pin)
	}

	all := e.Status()
	var names []string
	for _, in := range all.Instances {
		names = append(names, in.Name)
	}
	var pools []string
	for _, p := range all.Pools {
		pools = append(pools, p.Name)
	}
	if !slices.Equal(names, []string{www, "plain.example.org."}) || !slices.Equal(pools, []string{"a", "b", "c"}) {
		t.Errorf("Status has instances %v and pools %v", names, pools)
	}
	if all.Serial != e.snap.Load().serial {
		t.Errorf("serial %d", all.Serial)
	}
	if _, ok := e.InstanceStatus("nope.example.org."); ok {
		t.Error("a status for an instance that does not exist")
	}
	if _, ok := e.PoolStatus("nope"); ok {
		t.Error("a status for a pool that does not exist")
	}
}

// The API serves the types as they are: every key is written as the
// Corefile writes keywords, and what it writes reads back the same.
func TestStatusJSON(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	e := started(t, testkit.FailoverBody(testkit.DeadPort(t), live, ""))
	testkit.Eventually(t, "failover, the secondary measured", 3*time.Second, func() bool {
		b, _ := e.PoolStatus("b")
		return e.State("www.example.org.", "default") == StateSecondary && b.Addresses[0].Latency != nil
	})
	b, err := json.Marshal(e.Status())
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`"([^"]+)":`).FindAllSubmatch(b, -1)
	seen := map[string]bool{}
	for _, k := range keys {
		seen[string(k[1])] = true
		if !regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`).Match(k[1]) {
			t.Errorf("key %q is not lower case with hyphens", k[1])
		}
	}
	for _, k := range []string{"active-collection", "failback-hold", "effective-mode", "last-probe", "since", "rtt", "latency", "vantage", "min-available"} {
		if !seen[k] {
			t.Errorf("no key %q in %s", k, b)
		}
	}
	if !regexp.MustCompile(`"rtt":"[0-9.]+(us|ms|s)"`).Match(b) {
		t.Errorf("round trips are not written as durations: %s", b)
	}
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if !bytes.Equal(again, b) {
		t.Errorf("Status does not read back as written:\n%s\n%s", b, again)
	}
}

// Status reads one snapshot and takes no lock: it runs beside changes
// (the race detector watches) and each result is one snapshot's, never
// half of two.
func TestStatusDuringChanges(t *testing.T) {
	e := started(t, overrideBody)
	k := health.Key{Pool: "a", Address: "192.0.2.1"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := config.ModeAuto
			if i%2 == 0 {
				m = config.ModeDown
			}
			if err := e.Apply(Change{Modes: map[health.Key]config.Mode{k: m}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		st := e.Status()
		a := st.Pools[0]
		// The pool's count and its address's mode come from the same
		// snapshot.
		down := a.Addresses[0].EffectiveMode == "down"
		if down && a.Usable != 1 || !down && a.Usable != 2 {
			t.Fatalf("pool a: %d usable with 192.0.2.1 in mode %s", a.Usable, a.Addresses[0].EffectiveMode)
		}
	}
	close(stop)
	wg.Wait()
}
