package health

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
//
// A process can hold 100,000 of them: a check keeps what only it knows and
// shares the rest (its monitor's identities and, for stateless probers, the
// prober itself) with the other checks of its monitor.
type Check struct {
	target Target // its target.check is the check: a result finds it without a map
	domain string
	probe  string // the monitor's ProbeID: with host and domain, what a verdict is about
	sched  string // the monitor's ScheduleID: with the above, the check's identity
	// rec is nil until the first result (or a carried verdict). Records
	// are replaced, never changed, so checks can share one.
	rec  atomic.Pointer[Record]
	next *Check // the host's next check (another domain or probe), oldest first

	// Under the manager's lock.
	status  Status // hysteresis, with rise and fall from the monitor
	dropped bool   // no owner uses it any more
	streak  int32
	// How its owners name it: mostly one key, target.Key (counted in
	// keyN), so the others go in a set allocated only when there are any.
	keyN     int32
	moreKeys counted[Key]
	// owners and obs (an observer per monitor name it is known by) gain or
	// lose elements by copy, so that a result takes them without copying;
	// only the counts change in place.
	owners []owned
	obs    []named
	// Most checks have one owner and one name for life: those live here,
	// in the check, rather than in a slice of their own (two objects fewer
	// per check). Written only while owners or obs is still nil, so never
	// under a result that took the slice.
	owner1 [1]owned
	name1  [1]named
}

type owned struct {
	Owner
	n int
}

type named struct {
	name string
	Observer
	n int
}

// counted is a multiset of a few elements.
type counted[K comparable] []struct {
	k K
	n int
}

func (c *counted[K]) add(k K) {
	for i := range *c {
		if (*c)[i].k == k {
			(*c)[i].n++
			return
		}
	}
	*c = append(*c, struct {
		k K
		n int
	}{k, 1})
}

// remove takes one k away.
func (c *counted[K]) remove(k K) {
	for i := range *c {
		if (*c)[i].k == k {
			if (*c)[i].n--; (*c)[i].n == 0 {
				*c = append((*c)[:i], (*c)[i+1:]...)
			}
			return
		}
	}
}

// keys lists how its owners name c.
func (c *Check) keys() []Key {
	out := make([]Key, 0, 1+len(c.moreKeys))
	if c.keyN > 0 {
		out = append(out, c.target.Key)
	}
	for _, e := range c.moreKeys {
		out = append(out, e.k)
	}
	return out
}

// Record is what is known of the check now. It takes no lock.
func (c *Check) Record() Record {
	if r := c.rec.Load(); r != nil {
		return *r
	}
	return Record{}
}

// Status is the check's verdict.
func (c *Check) Status() Status {
	if r := c.rec.Load(); r != nil {
		return r.Status
	}
	return Unknown
}

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

	mu sync.Mutex
	// checks holds each host's checks, chained through next: one map
	// entry per host, and no identity string built per check.
	checks   map[string]*Check
	n        int // checks
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
		// The first specs are a whole configuration's: sized once for them.
		m.checks = make(map[string]*Check, len(specs))
	}
	checks = make(map[Key]*Check, len(specs))
	var added []*Target
	var chunk []Check
	mons := monitors{}
	for i, s := range specs {
		mi := mons.of(s.Monitor)
		c := m.find(s.Host, s.Domain, mi.probe, mi.sched)
		if c == nil {
			// New checks come in chunks, not one object each: fewer
			// objects for the collector to mark at 100,000 checks. A
			// chunk lives while any of its checks does; at most
			// checkChunk-1 of one call are spare.
			if len(chunk) == 0 {
				chunk = make([]Check, min(len(specs)-i, checkChunk))
			}
			c, chunk = &chunk[0], chunk[1:]
			c.domain, c.probe, c.sched = s.Domain, mi.probe, mi.sched
			c.target = Target{Key: s.Key, Host: s.Host, Monitor: s.Monitor, Prober: mi.prober(s), check: c}
			if from := m.sameProbe(s.Host, s.Domain, mi.probe); from != nil {
				rec := from.rec.Load()
				c.rec.Store(rec)
				c.status = rec.Status // as Tracker.Seed
				carried++
			}
			m.link(c)
			if added == nil {
				added = make([]*Target, 0, len(specs))
			}
			added = append(added, &c.target)
		}
		c.addOwner(o)
		if s.Key == c.target.Key {
			c.keyN++
		} else {
			c.moreKeys.add(s.Key)
		}
		c.addName(s.Monitor.Name, m.Observe)
		checks[s.Key] = c
	}
	if len(added) > 0 {
		m.schedule(added, nil)
	}
	return checks, carried
}

// checkChunk is how many new checks are allocated together.
const checkChunk = 256

func (c *Check) addOwner(o Owner) {
	if c.owners == nil {
		c.owner1[0] = owned{o, 1}
		c.owners = c.owner1[:]
		return
	}
	for i := range c.owners {
		if c.owners[i].Owner == o {
			c.owners[i].n++
			return
		}
	}
	c.owners = append(slices.Clip(c.owners), owned{o, 1})
}

// removeOwner takes one use of o away and reports whether o used c.
func (c *Check) removeOwner(o Owner) bool {
	i := slices.IndexFunc(c.owners, func(e owned) bool { return e.Owner == o })
	if i < 0 {
		return false
	}
	if c.owners[i].n--; c.owners[i].n == 0 {
		c.owners = slices.Delete(slices.Clone(c.owners), i, i+1)
	}
	return true
}

func (c *Check) addName(name string, observe func(string) Observer) {
	for i := range c.obs {
		if c.obs[i].name == name {
			c.obs[i].n++
			return
		}
	}
	var ob Observer
	if observe != nil {
		ob = observe(name)
	}
	if c.obs == nil {
		c.name1[0] = named{name, ob, 1}
		c.obs = c.name1[:]
		return
	}
	c.obs = append(slices.Clip(c.obs), named{name, ob, 1})
}

func (c *Check) removeName(name string) {
	i := slices.IndexFunc(c.obs, func(e named) bool { return e.name == name })
	if i < 0 {
		return
	}
	if c.obs[i].n--; c.obs[i].n == 0 {
		c.obs = slices.Delete(slices.Clone(c.obs), i, i+1)
	}
}

// monitors caches each monitor's identities for one call: thousands of
// specs share a handful of monitors, and an identity is a hash of the whole.
type monitors map[*config.Monitor]*monitorInfo

type monitorInfo struct {
	probe, sched string // ProbeID and ScheduleID
	shared       Prober // the monitor's prober, if stateless
}

func (ms monitors) of(m *config.Monitor) *monitorInfo {
	mi := ms[m]
	if mi == nil {
		mi = &monitorInfo{probe: m.ProbeID(), sched: m.ScheduleID()}
		ms[m] = mi
	}
	return mi
}

// prober is the new check's prober. TCP and ping probers are settings
// only, the same for every host: the monitor's checks share one.
func (mi *monitorInfo) prober(s Spec) Prober {
	switch s.Monitor.Protocol {
	case config.ProtoTCP, config.ProtoPing:
		if mi.shared == nil {
			mi.shared = NewProber(s.Monitor, "")
		}
		return mi.shared
	}
	return NewProber(s.Monitor, s.Domain)
}

// find returns the check with this identity, if any.
func (m *Manager) find(host, domain, probe, sched string) *Check {
	for c := m.checks[host]; c != nil; c = c.next {
		if c.domain == domain && c.probe == probe && c.sched == sched {
			return c
		}
	}
	return nil
}

// sameProbe finds a check with a verdict for the same probe of the same
// host: the oldest, as its verdict has lasted longest.
func (m *Manager) sameProbe(host, domain, probe string) *Check {
	for c := m.checks[host]; c != nil; c = c.next {
		if c.domain == domain && c.probe == probe && c.Status() != Unknown {
			return c
		}
	}
	return nil
}

// link adds c at the end of its host's chain.
func (m *Manager) link(c *Check) {
	p := m.checks[c.target.Host]
	if p == nil {
		m.checks[c.target.Host] = c
	} else {
		for p.next != nil {
			p = p.next
		}
		p.next = c
	}
	m.n++
}

// unlink takes c out of its host's chain.
func (m *Manager) unlink(c *Check) {
	host := c.target.Host
	if p := m.checks[host]; p == c {
		if c.next == nil {
			delete(m.checks, host)
		} else {
			m.checks[host] = c.next
		}
	} else {
		for p.next != c {
			p = p.next
		}
		p.next = c.next
	}
	c.next = nil
	m.n--
}

// Release gives back o's checks for specs (the ones it acquired); checks no
// owner uses any more stop being probed.
func (m *Manager) Release(o Owner, specs []Spec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dropped []*Target
	mons := monitors{}
	for _, s := range specs {
		mi := mons.of(s.Monitor)
		c := m.find(s.Host, s.Domain, mi.probe, mi.sched)
		if c == nil || !c.removeOwner(o) {
			continue
		}
		if s.Key == c.target.Key && c.keyN > 0 {
			c.keyN--
		} else {
			c.moreKeys.remove(s.Key)
		}
		c.removeName(s.Monitor.Name)
		if len(c.owners) == 0 {
			m.unlink(c)
			c.dropped = true
			dropped = append(dropped, &c.target)
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
	return m.n
}

// schedule brings the scheduler in line with the checks: new ones start
// (after a short jittered delay), dropped ones stop, the others keep their
// schedule. The last check gone, the scheduler stops in the background (a
// probe in flight is cancelled; Wait waits for it). Called with m.mu held.
func (m *Manager) schedule(added, dropped []*Target) {
	if m.n == 0 {
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
			c := t.check
			if c != nil && c.dropped {
				c = nil
			}
			m.mu.Unlock()
			if c != nil && m.OnPanic != nil {
				m.OnPanic(c, p)
			}
		}
		targets := make([]*Target, 0, m.n)
		for _, c := range m.checks {
			for ; c != nil; c = c.next {
				targets = append(targets, &c.target)
			}
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
	c := t.check
	m.mu.Lock()
	if c == nil || c.dropped || m.sched != s {
		m.mu.Unlock()
		return // a dropped check's, or a stopped scheduler's, late result
	}
	tr := Tracker{Rise: t.Monitor.Rise, Fall: t.Monitor.Fall, status: c.status, streak: int(c.streak)}
	old, now, changed := tr.Observe(r.OK)
	c.status, c.streak = tr.status, int32(tr.streak)
	rec := c.Record()
	rec.Status, rec.Last, rec.Vantage = now, r, LocalVantage
	if changed {
		rec.Since = time.Now()
	}
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
	obs, owners := c.obs, c.owners
	var keys []Key
	if changed {
		keys = c.keys()
	}
	m.mu.Unlock()

	// By index: the counts beside them change under the lock.
	for i := range obs {
		if o := obs[i].Observer; o != nil {
			o.Observe(r)
		}
	}
	// A first verdict of healthy is the expected start, not news.
	if changed && (old != Unknown || now == Unhealthy) && m.OnVerdict != nil {
		m.OnVerdict(c, keys, old, now, r)
	}
	if changed || moved {
		for i := range owners {
			owners[i].HealthChanged(c, changed)
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
