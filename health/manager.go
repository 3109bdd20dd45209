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

// Observer is told of every result of a check, once per label set that
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
	owners  map[Owner]int
	keys    map[Key]int           // how its owners name it
	obs     map[[2]string]*refObs // by monitor and pool name
	// The observers and owners as lists, rebuilt (never changed in place)
	// when they change, so that a result takes them without copying.
	obsList   []Observer
	ownerList []Owner
}

// lists rebuilds c's observer and owner lists. Called with the manager's
// lock held.
func (c *Check) lists() {
	c.obsList = make([]Observer, 0, len(c.obs))
	for _, o := range c.obs {
		c.obsList = append(c.obsList, o.Observer)
	}
	c.ownerList = make([]Owner, 0, len(c.owners))
	for o := range c.owners {
		c.ownerList = append(c.ownerList, o)
	}
}

type refObs struct {
	Observer
	refs int
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
	// Observe returns the observer for one (monitor, pool) label set; it is
	// called once per label set, not per result. Optional.
	Observe func(monitor, pool string) Observer
	// OnProbe is told of every result, once per check. Optional.
	OnProbe func(c *Check, r Result)
	// OnVerdict is told of every verdict change but the first healthy one
	// (the expected start), with the keys its owners know the check by.
	OnVerdict func(c *Check, keys []Key, old, now Status, r Result)
	// OnPanic is told of a prober that panicked.
	OnPanic func(c *Check, p any)

	mu       sync.Mutex
	checks   map[string]*Check // by id
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
		m.checks, m.byTarget = make(map[string]*Check), make(map[*Target]*Check)
	}
	checks = make(map[Key]*Check, len(specs))
	var added []*Target
	for _, s := range specs {
		probeID := s.Host + "\x00" + s.Domain + "\x00" + s.Monitor.ProbeID()
		id := probeID + "\x00" + s.Monitor.ScheduleID()
		c := m.checks[id]
		if c == nil {
			c = &Check{id: id, probeID: probeID, owners: map[Owner]int{}, keys: map[Key]int{}, obs: map[[2]string]*refObs{},
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
			m.byTarget[c.target] = c
			added = append(added, c.target)
		}
		c.owners[o]++
		c.keys[s.Key]++
		lk := [2]string{s.Monitor.Name, s.Key.Pool}
		if ob := c.obs[lk]; ob != nil {
			ob.refs++
		} else if m.Observe != nil {
			c.obs[lk] = &refObs{Observer: m.Observe(lk[0], lk[1]), refs: 1}
		}
		if c.owners[o] == 1 || len(c.obs) != len(c.obsList) {
			c.lists()
		}
		checks[s.Key] = c
	}
	if len(added) > 0 {
		m.schedule(added, nil)
	}
	return checks, carried
}

// sameProbe finds a check with a verdict for the same probe of the same host.
func (m *Manager) sameProbe(probeID string) *Check {
	for _, c := range m.checks {
		if c.probeID == probeID && c.Status() != Unknown {
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
	for _, s := range specs {
		probeID := s.Host + "\x00" + s.Domain + "\x00" + s.Monitor.ProbeID()
		c := m.checks[probeID+"\x00"+s.Monitor.ScheduleID()]
		if c == nil || c.owners[o] == 0 {
			continue
		}
		if c.owners[o]--; c.owners[o] == 0 {
			delete(c.owners, o)
		}
		if c.keys[s.Key]--; c.keys[s.Key] == 0 {
			delete(c.keys, s.Key)
		}
		lk := [2]string{s.Monitor.Name, s.Key.Pool}
		if ob := c.obs[lk]; ob != nil {
			if ob.refs--; ob.refs == 0 {
				delete(c.obs, lk)
			}
		}
		if len(c.owners) != len(c.ownerList) || len(c.obs) != len(c.obsList) {
			c.lists()
		}
		if len(c.owners) == 0 {
			delete(m.checks, c.id)
			delete(m.byTarget, c.target)
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
	obs, owners := c.obsList, c.ownerList
	var keys []Key
	if changed {
		for k := range c.keys {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()

	if m.OnProbe != nil {
		m.OnProbe(c, r)
	}
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
