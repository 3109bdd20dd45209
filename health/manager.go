package health

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gtm-project/gtm/config"
)

// Spec asks for one address to be probed, as its owner names it.
type Spec struct {
	Key     Key             // pool and address
	Host    string          // what to connect to: an IP address or a domain name
	Domain  string          // the address's domain name, if it has one (default Host header and TLS name)
	Monitor *config.Monitor // how
}

// Owner is a user of the manager's checks: a running configuration.
type Owner interface {
	// HealthChanged tells the owner that a check it uses reached a new
	// verdict (verdict true) or only moved its latency average. It is
	// called from probe goroutines, without the manager's lock.
	HealthChanged(c *Check, verdict bool)
}

// Observer is told of every result of a check, once per monitor name that
// uses it (the plugin counts probes with it).
type Observer interface{ Observe(Result) }

// Check is one probed target: a host and a probe with its schedule. Every
// owner whose specs ask for the same probe of the same host shares it, so a
// process probes it once however many pools, instances and server blocks
// use it.
type Check struct {
	id      string // host, probe, schedule and hysteresis
	probeID string // host and probe: what a verdict is about
	target  *Target
	rec     atomic.Pointer[Record]

	// Under the manager's lock.
	tracker Tracker
	// Small counted sets (one entry, mostly): slices cost a fraction of
	// maps at 100,000 checks.
	owners counted[Owner]
	keys   counted[Key]    // how its owners name it
	names  counted[string] // the monitor names it is known by
	// obs and ownerList are replaced, never changed in place, so that a
	// result takes them without copying.
	obs       []named // an observer per monitor name
	ownerList []Owner
}

type named struct {
	name string
	Observer
}

// counted is a multiset of a few elements.
type counted[K comparable] []struct {
	k K
	n int
}

func (c *counted[K]) add(k K) (first bool) {
	for i := range *c {
		if (*c)[i].k == k {
			(*c)[i].n++
			return false
		}
	}
	*c = append(*c, struct {
		k K
		n int
	}{k, 1})
	return true
}

// remove takes one k away and reports whether it was there and is now gone.
func (c *counted[K]) remove(k K) (gone bool) {
	for i := range *c {
		if (*c)[i].k == k {
			if (*c)[i].n--; (*c)[i].n == 0 {
				*c = append((*c)[:i], (*c)[i+1:]...)
				return true
			}
			return false
		}
	}
	return false
}

func (c counted[K]) has(k K) bool {
	for _, e := range c {
		if e.k == k {
			return true
		}
	}
	return false
}

func (c counted[K]) list() []K {
	out := make([]K, len(c))
	for i, e := range c {
		out[i] = e.k
	}
	return out
}

// Record is what is known of the check now. It takes no lock.
func (c *Check) Record() Record { return *c.rec.Load() }

// Status is the check's verdict.
func (c *Check) Status() Status { return c.rec.Load().Status }

// Host is what the check connects to.
func (c *Check) Host() string { return c.target.Host }

// Monitor is how the check probes.
func (c *Check) Monitor() *config.Monitor { return c.target.Monitor }

// Manager is the process's health service: it owns every check, its
// schedule (one scheduler for the process), its hysteresis and its verdict. Owners acquire checks for their
// specs and release them when they stop; a check is probed while any owner
// uses it. A new check whose probe matches a running one (only interval,
// rise or fall differ) starts from that one's verdict, so a reload that
// changes a schedule forgets nothing.
type Manager struct {
	// Observe returns the observer for one monitor name; it is called when
	// a check first gets that name, not per result. Optional.
	Observe func(monitor string) Observer
	// OnVerdict is told of every verdict change but the first healthy one
	// (the expected start), with the keys its owners know the check by.
	OnVerdict func(c *Check, keys []Key, old, now Status, r Result)
	// OnPanic is told of a prober that panicked.
	OnPanic func(c *Check, p any)

	mu       sync.Mutex
	checks   map[string]*Check   // by id
	byProbe  map[string][]*Check // by probe identity: the candidates to carry a verdict from
	byTarget map[*Target]*Check
	sched    *Scheduler
	stopping sync.WaitGroup // schedulers being stopped in the background
}

// Acquire returns o's checks for specs, by key, creating the missing ones
// (and carrying a verdict over to them where a matching probe has one).
// carried counts the new checks that start from a known verdict.
func (m *Manager) Acquire(o Owner, specs []Spec) (checks map[Key]*Check, carried int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checks == nil {
		m.checks, m.byTarget, m.byProbe = make(map[string]*Check), make(map[*Target]*Check), make(map[string][]*Check)
	}
	checks = make(map[Key]*Check, len(specs))
	var added []*Target
	ids := monitorIDs{}
	for _, s := range specs {
		probeID, id := ids.of(s)
		c := m.checks[id]
		if c == nil {
			c = &Check{id: id, probeID: probeID,
				tracker: Tracker{Rise: s.Monitor.Rise, Fall: s.Monitor.Fall},
				target:  &Target{Key: s.Key, Host: s.Host, Monitor: s.Monitor, Prober: NewProber(s.Monitor, s.Domain)}}
			rec := Record{}
			if from := m.sameProbe(probeID); from != nil {
				rec = from.Record()
				c.tracker.Seed(rec.Status)
				carried++
			}
			c.rec.Store(&rec)
			m.checks[id] = c
			m.byProbe[probeID] = append(m.byProbe[probeID], c)
			m.byTarget[c.target] = c
			added = append(added, c.target)
		}
		if c.owners.add(o) {
			c.ownerList = c.owners.list()
		}
		c.keys.add(s.Key)
		if c.names.add(s.Monitor.Name) && m.Observe != nil {
			c.obs = append(slices.Clip(c.obs), named{s.Monitor.Name, m.Observe(s.Monitor.Name)})
		}
		checks[s.Key] = c
	}
	if len(added) > 0 {
		m.schedule(added, nil)
	}
	return checks, carried
}

// monitorIDs caches each monitor's identities for one call: thousands of
// specs share a handful of monitors, and an identity is a hash of the whole.
type monitorIDs map[*config.Monitor][2]string

// of returns the spec's probe identity (host and probe) and check identity
// (the probe and its schedule).
func (ids monitorIDs) of(s Spec) (probeID, id string) {
	m, ok := ids[s.Monitor]
	if !ok {
		m = [2]string{s.Monitor.ProbeID(), s.Monitor.ScheduleID()}
		ids[s.Monitor] = m
	}
	probeID = s.Host + "\x00" + s.Domain + "\x00" + m[0]
	return probeID, probeID + "\x00" + m[1]
}

// sameProbe finds a check with a verdict for the same probe of the same host.
func (m *Manager) sameProbe(probeID string) *Check {
	for _, c := range m.byProbe[probeID] {
		if c.Status() != Unknown {
			return c
		}
	}
	return nil
}

// Release gives back o's checks for specs (the ones it acquired); checks no
// owner uses any more stop being probed.
func (m *Manager) Release(o Owner, specs []Spec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dropped []*Target
	ids := monitorIDs{}
	for _, s := range specs {
		_, id := ids.of(s)
		c := m.checks[id]
		if c == nil || !c.owners.has(o) {
			continue
		}
		if c.owners.remove(o) {
			c.ownerList = c.owners.list()
		}
		c.keys.remove(s.Key)
		if c.names.remove(s.Monitor.Name) {
			c.obs = slices.DeleteFunc(slices.Clone(c.obs), func(n named) bool { return n.name == s.Monitor.Name })
		}
		if len(c.owners) == 0 {
			delete(m.checks, c.id)
			delete(m.byTarget, c.target)
			same := slices.DeleteFunc(m.byProbe[c.probeID], func(o *Check) bool { return o == c })
			if len(same) == 0 {
				delete(m.byProbe, c.probeID)
			} else {
				m.byProbe[c.probeID] = same
			}
			dropped = append(dropped, c.target)
		}
	}
	if len(dropped) > 0 {
		m.schedule(nil, dropped)
	}
}

// Len is how many checks are probed.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.checks)
}

// schedule brings the scheduler in line with the checks: new ones start
// (after a short jittered delay), dropped ones stop, the others keep their
// schedule. The last check gone, the scheduler stops in the background (a
// probe in flight is cancelled; Wait waits for it). Called with m.mu held.
func (m *Manager) schedule(added, dropped []*Target) {
	if len(m.checks) == 0 {
		if old := m.sched; old != nil {
			m.sched = nil
			m.stopping.Add(1)
			go func() {
				defer m.stopping.Done()
				old.Stop()
			}()
		}
		return
	}
	if m.sched == nil {
		s := &Scheduler{}
		s.OnResult = func(t *Target, r Result) { m.result(s, t, r) }
		s.OnPanic = func(t *Target, p any) {
			m.mu.Lock()
			c := m.byTarget[t]
			m.mu.Unlock()
			if c != nil && m.OnPanic != nil {
				m.OnPanic(c, p)
			}
		}
		targets := make([]*Target, 0, len(m.checks))
		for _, c := range m.checks {
			targets = append(targets, c.target)
		}
		m.sched = s
		s.Start(targets)
		return
	}
	m.sched.Remove(dropped...)
	m.sched.Add(added...)
}

// Wait blocks until no scheduler runs: every owner has released its checks
// and every stopped scheduler's probes have returned.
func (m *Manager) Wait() { m.stopping.Wait() }

// result takes one probe result through hysteresis into the check's record
// and tells its owners.
func (m *Manager) result(s *Scheduler, t *Target, r Result) {
	m.mu.Lock()
	c := m.byTarget[t]
	if c == nil || m.sched != s {
		m.mu.Unlock()
		return // a dropped check's, or a stopped scheduler's, late result
	}
	old, now, changed := c.tracker.Observe(r.OK)
	rec := *c.rec.Load()
	rec.Status, rec.Last = now, r
	moved := true
	switch {
	case r.OK:
		rec.Latency = rec.Latency.Add(r.RTT)
	case r.RTT >= t.Monitor.Timeout:
		// A probe that timed out says the address is at least this slow,
		// long before fall marks it down.
		rec.Latency = rec.Latency.Add(t.Monitor.Timeout)
	default:
		moved = false
	}
	c.rec.Store(&rec)
	obs, owners := c.obs, c.ownerList
	var keys []Key
	if changed {
		keys = c.keys.list()
	}
	m.mu.Unlock()

	for _, o := range obs {
		o.Observe(r)
	}
	// A first verdict of healthy is the expected start, not news.
	if changed && (old != Unknown || now == Unhealthy) && m.OnVerdict != nil {
		m.OnVerdict(c, keys, old, now, r)
	}
	if changed || moved {
		for _, o := range owners {
			o.HealthChanged(c, changed)
		}
	}
}

// Reason is a result's cause in words, for events.
func Reason(r Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return "probe passed"
}

// KeyNames lists keys as "pool/address", sorted, for log lines.
func KeyNames(keys []Key) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Pool + "/" + k.Address
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
