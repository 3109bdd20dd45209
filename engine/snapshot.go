package engine

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// snapshot is everything a query needs, compiled from a validated config and
// a health view. It is never modified after compile: a change builds a new
// one and the plugin swaps a pointer.
//
// A health change replaces only the pools it touches and the instances that
// use them; every other part is shared with the snapshot before, so the
// cost of a change follows its size, not the configuration's.
type snapshot struct {
	zones map[string]*zone   // by apex name
	names *shards[*instance] // managed names
	ents  map[string]*zone   // empty non-terminals above managed names (NODATA, not NXDOMAIN)
	pools *shards[*cpool]    // by name, as compiled for health
	hosts map[string]*host   // in-zone name servers, answered with their addresses
	idx   *configIndex       // what refers to what in cfg
	cfg   *config.Config
	over  *Overrides // an operator's, compiled in; nil for none
	// serial is the zones' SOA serial.
	serial uint32
}

// instance returns the managed name's compiled instance, or nil.
func (s *snapshot) instance(name string) *instance { return s.names.get(name) }

// cpool is a pool compiled for one health view.
type cpool struct {
	pool *policy.Pool // the addresses health and mode allow
	// sick: an address that probes say is down; unsure: a probed address
	// without a verdict yet (the answer may hold a dead address, so it must
	// not be cached long).
	sick, unsure bool
	latency      time.Duration // mean of the usable, measured addresses
	measured     bool
	// far is the mean latency of the usable addresses as measured from
	// other vantage points, for those that measured any (a cluster's).
	far map[config.Vantage]time.Duration
	// records are each address's probe record as compiled (in the
	// configuration's order), so that explain describes the state that made
	// the answer. Filled only when explain is on.
	records []health.Record
	probed  []bool
}

// configIndex is what refers to what in a configuration, computed once per
// configuration so that a change finds what it touches. Its maps are
// sharded so that a change of pools copies only what it touches.
type configIndex struct {
	pools   *shards[*config.Pool]
	pos     *shards[int]           // a pool's place in cfg.Pools
	digest  *shards[config.Digest] // a pool's content digest
	users   *shards[[]*config.Instance]
	latency map[string]bool // pools used by latency instances
	sum     config.Sum      // the whole configuration's digest
}

func newIndex(cfg *config.Config) *configIndex {
	n := len(cfg.Pools)
	x := &configIndex{pools: newShards[*config.Pool](n), pos: newShards[int](n), digest: newShards[config.Digest](n),
		users: newShards[[]*config.Instance](n), latency: map[string]bool{}}
	x.sum = config.Sum{}.Add(cfg.TopDigest())
	for _, m := range cfg.Monitors {
		x.sum = x.sum.Add(config.PartDigest(m))
	}
	for i, p := range cfg.Pools {
		d := config.PartDigest(p)
		x.pools.put(p.Name, p)
		x.pos.put(p.Name, i)
		x.digest.put(p.Name, d)
		x.sum = x.sum.Add(d)
	}
	for _, in := range cfg.Instances {
		x.sum = x.sum.Add(config.PartDigest(in))
		if in.Policy == config.PolicyLatency {
			for _, p := range in.PoolNames() {
				x.latency[p] = true
			}
		}
	}
	users := grouped(n, func(yield func(string, *config.Instance)) {
		for _, in := range cfg.Instances {
			for _, p := range in.PoolNames() {
				yield(p, in)
			}
		}
	})
	for p, ins := range users {
		x.users.put(p, ins)
	}
	return x
}

// host is an in-zone name server: its address records, answered for the name
// and added as glue to NS answers.
type host struct {
	zone    *zone
	a, aaaa []dns.RR
}

// poolAvailable reports whether the named pool meets its availability rule.
func (s *snapshot) poolAvailable(name string) bool {
	p := s.pools.get(name)
	return p != nil && p.pool.Available
}

type zone struct {
	name string
	soa  dns.SOA // template; replies get a copy, since plugins wrapping the writer (rewrite ttl) edit replies in place
	ns   []dns.NS
	glue []dns.RR // the address records of in-zone name servers, for NS answers
	// serial is the SOA serial. It is the one thing of a compiled zone that
	// a change of pools moves, and every instance points at its zone: so it
	// is stored here for all of them rather than by compiling every
	// instance again.
	serial *atomic.Uint32
}

// State is what a rule answers with. Its value is the word events,
// explanations and metrics show.
type State string

// The answer states of a rule.
const (
	StatePrimary   State = "primary"
	StateSecondary State = "secondary"
	StateFailOpen  State = "fail-open"
	StateFallback  State = "fallback"
	StateNoData    State = "nodata"
	StateServFail  State = "servfail"
)

type instance struct {
	src     *config.Instance
	name    string
	zone    *zone
	qtype   uint16         // dns.TypeA, TypeAAAA or TypeCNAME; 0 when dual
	dual    bool           // IPv4 and IPv6 pools: A and AAAA, from the rules' fam
	svc     *[2]*svcParams // HTTPS and SVCB answers (svc.go); nil when neither
	rules   []*rule        // configured order
	def     *rule          // nil when every client matches another rule
	answers poolCounters   // the counters of the pools it answers from now
	counts  *instCounters  // every answers_total counter of the instance

	// Matching, most specific first. byClient is false for an instance
	// with only a default rule: its answer does not depend on the client.
	byClient     bool
	ignoreECS    bool
	cidr         policy.CIDRTable[*rule]
	asns         map[uint32]*rule // asn rules, by autonomous system number
	geo          bool             // has continent, country or subdivision rules
	subdivisions map[string]*rule
	countries    map[string]*rule
	continents   map[string]*rule
	latency      bool
	nearest      bool               // answers from the pools nearest to the client
	tiePct       int                // nearest: pools within this share of the nearest's distance also answer
	tieKm        float64            // ... or within this many km of it
	geoMisses    prometheus.Counter // nil until the plugin has started
}

// instCounters are an instance's counters: answers_total, one per pool it
// has answered from (and "" for fallback addresses), and switchovers_total,
// one per rule and state switched to. The instance's compilations share
// them, so counts survive health changes, changes of other objects and
// reloads that keep the instance; they are exported when scraped
// (stateCollector), so that 100,000 instances need 100,000 small sets of
// counters rather than as many labelled series (at 100,000 instances that
// all switched once, switchovers alone were 700,000 heap objects).
type instCounters struct {
	mu   sync.Mutex // compiles of two engines (a reload) may add at once
	list []*answerCount
	// The first counters, and the list's first cells, in the same
	// allocation: most instances answer from one or two pools.
	inline   [2]answerCount
	cells    [2]*answerCount
	switches []switchCount // under mu: switches are rare
	switch1  [1]switchCount
	// rule_answers_total: one per rule and state word (primary,
	// secondary, all-down) it has answered in; the first inline.
	rules []*ruleCount
	rule1 ruleCount
	// The traffic recorder's alone (traffic.go): the instance's id in its
	// history, and the last tick that read it.
	traffic trafficIDs
}

// ruleCount counts the queries a rule decided while in one state.
type ruleCount struct {
	rule, state string
	n           atomic.Uint64
}

// ruleCounter returns the counter of rule in state, made on first use.
func (ac *instCounters) ruleCounter(rule, state string) *ruleCount {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for _, c := range ac.rules {
		if c.rule == rule && c.state == state {
			return c
		}
	}
	c := &ac.rule1
	if len(ac.rules) > 0 {
		c = new(ruleCount)
	}
	c.rule, c.state = rule, state
	ac.rules = append(ac.rules, c)
	return c
}

// eachRule calls fn for every rule counter.
func (ac *instCounters) eachRule(fn func(rule, state string, n uint64)) {
	ac.mu.Lock()
	list := slices.Clone(ac.rules)
	ac.mu.Unlock()
	for _, c := range list {
		fn(c.rule, c.state, c.n.Load())
	}
}

// stateWord is a state as rule_answers_total and the metadata say it:
// primary, secondary, or all-down for every all-down answer.
func stateWord(s State) string {
	if s == StatePrimary || s == StateSecondary {
		return string(s)
	}
	return "all-down"
}

type switchCount struct {
	rule, to string
	n        uint64
}

// switched counts a switch of rule to state to.
func (ac *instCounters) switched(rule, to string) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for i := range ac.switches {
		if sc := &ac.switches[i]; sc.rule == rule && sc.to == to {
			sc.n++
			return
		}
	}
	if ac.switches == nil {
		ac.switches = ac.switch1[:0] // most rules switch to one or two states
	}
	ac.switches = append(ac.switches, switchCount{rule, to, 1})
}

// eachSwitch calls fn for every switch counter.
func (ac *instCounters) eachSwitch(fn func(rule, to string, n uint64)) {
	ac.mu.Lock()
	sw := slices.Clone(ac.switches)
	ac.mu.Unlock()
	for _, sc := range sw {
		fn(sc.rule, sc.to, sc.n)
	}
}

type answerCount struct {
	pool string
	n    atomic.Uint64
	// The traffic recorder's alone: n when it last read it, and the pool's
	// place among the instance's pools in its history (+1; 0 not yet).
	seen uint64
	ref  uint32
}

// get returns the counter of pool, made on first use.
func (ac *instCounters) get(pool string) *answerCount {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for _, c := range ac.list {
		if c.pool == pool {
			return c
		}
	}
	var c *answerCount
	if n := len(ac.list); n < len(ac.inline) {
		if n == 0 {
			ac.list = ac.cells[:0]
		}
		c = &ac.inline[n]
		c.pool = pool
	} else {
		c = &answerCount{pool: pool}
	}
	ac.list = append(ac.list, c)
	return c
}

// each calls fn for every counter.
func (ac *instCounters) each(fn func(pool string, n uint64)) {
	ac.mu.Lock()
	list := ac.list
	ac.mu.Unlock()
	for _, c := range list {
		fn(c.pool, c.n.Load())
	}
}

// poolCounters maps the few pools an instance answers from to their
// counters: a slice, since a map per instance costs too much at 100,000
// instances.
type poolCounters []poolCounter

type poolCounter struct {
	pool *policy.Pool
	c    *answerCount
}

func (pc *poolCounters) set(p *policy.Pool, c *answerCount) {
	for i := range *pc {
		if (*pc)[i].pool == p {
			(*pc)[i].c = c
			return
		}
	}
	*pc = append(*pc, poolCounter{p, c})
}

func (pc poolCounters) get(p *policy.Pool) *answerCount {
	for _, e := range pc {
		if e.pool == p {
			return e.c
		}
	}
	return nil
}

// rule is a compiled access rule with its active collection decided.
type rule struct {
	name               string // "default", "country DE AT": for events, metrics, explanations
	primary, secondary *policy.Collection
	active             *policy.Collection // nil when state is nodata or servfail
	state              State
	why                string     // the reason for the state, for events
	ttl                uint32     // the configured TTL, or the degraded one
	degraded           bool       // an address is down or unknown, or the primary is not answering
	held               bool       // on the secondary only by a manual-failback hold: the primary is available
	hash4, hash6       uint8      // the longest client prefixes a hash pool of the active collection keys on; 0: none
	answered           *ruleCount // counts the queries it decides; nil when not counting
	src                *config.Rule
	// fam are a dual-stack rule's answers for A (0) and AAAA (1), each
	// decided (dual.go); nil for other instances.
	fam *[2]rule
	// far are the rule as answered to clients nearest to other vantage
	// points, where the fastest pools from there differ (latency).
	far []farRule

	// Where primary and secondary live, with their member lists: in the
	// rule, so that a query finds the active collection without another
	// cache miss.
	cols [3]policy.Collection // primary, secondary, fail-open
	mems [12]policy.Member
}

// compile builds a whole snapshot. cfg must have passed Validate. prev, the
// snapshot being replaced (nil at start), carries the state that manual
// failback keeps. With counting, answers are counted per instance and pool;
// a handler that has not started (or a failed setup) creates no series.
func compile(cfg *config.Config, view health.View, prev *snapshot, counting bool) *snapshot {
	var idx *configIndex
	if prev != nil && prev.cfg == cfg {
		idx = prev.idx
	}
	return compileWith(cfg, idx, view, prev, counting)
}

// compileWith is compile with the configuration's index given (nil: make
// it), since the index digests every object and costs as much as the rest.
func compileWith(cfg *config.Config, idx *configIndex, view health.View, prev *snapshot, counting bool) *snapshot {
	s := &snapshot{
		zones: make(map[string]*zone, len(cfg.Zones)),
		ents:  make(map[string]*zone),
		hosts: make(map[string]*host, len(cfg.NS)),
		cfg:   cfg,
	}

	// The serial follows the configuration, not health: it changes when the
	// configuration does, and nodes with the same configuration agree. It is
	// 32 bits of the configuration's Sum (config.Sum), so it does not grow
	// (RFC 1982 order means nothing here; gtm transfers no zones).
	if s.idx = idx; idx == nil {
		s.idx = newIndex(cfg)
	}
	if prev != nil {
		// Overrides are kept across a reload, as across any change, as long
		// as they still fit the configuration.
		s.over = prev.over
		if prev.cfg != cfg {
			s.over = prev.over.fit(cfg.Instance, s.idx.pools.get)
		}
	}
	s.serial = uint32(s.idx.sum[0])
	for _, name := range cfg.Zones {
		s.zones[name] = newZone(cfg, name, s.serial)
	}
	s.compileHosts(cfg)
	explain := len(cfg.ExplainFrom) > 0
	s.pools = newShards[*cpool](len(cfg.Pools))
	for _, p := range cfg.Pools {
		s.pools.put(p.Name, compilePool(p, view, s.over, explain))
	}
	s.names = newShards[*instance](len(cfg.Instances))
	for _, ci := range cfg.Instances {
		var was *instance
		if prev != nil {
			was = prev.instance(ci.Name)
		}
		in := s.compileInstance(ci, was, counting, false)
		s.names.put(in.name, in)
		// Every name between the instance and its zone exists, without data.
		s.addENTs(in.name, in.zone)
	}
	for _, ci := range cfg.Instances {
		delete(s.ents, ci.Name)
	}
	for n := range s.hosts {
		delete(s.ents, n)
	}
	return s
}

// update returns a snapshot in which the named pools are compiled anew for
// view, and so is every instance that uses one of them; everything else is
// shared with s. It returns the instances it compiled.
func (s *snapshot) update(view health.View, pools map[string]bool, counting bool) (*snapshot, []*instance) {
	return s.updateWith(view, pools, nil, nil, counting)
}

// updateWith is update that also compiles the named instances anew, and
// forgets the manual-failback holds of those released.
func (s *snapshot) updateWith(view health.View, pools, instances, released map[string]bool, counting bool) (*snapshot, []*instance) {
	n := *s
	explain := len(s.cfg.ExplainFrom) > 0
	cps := make(map[string]*cpool, len(pools))
	affected := make(map[string]*config.Instance)
	for name := range pools {
		p := s.idx.pools.get(name)
		if p == nil {
			continue
		}
		cps[name] = compilePool(p, view, s.over, explain)
		for _, ci := range s.idx.users.get(name) {
			affected[ci.Name] = ci
		}
	}
	for name := range instances {
		if in := s.instance(name); in != nil {
			affected[name] = in.src
		}
	}
	n.pools = s.pools.with(cps)
	ins := make(map[string]*instance, len(affected))
	changed := make([]*instance, 0, len(affected))
	for _, ci := range affected {
		in := n.compileInstance(ci, s.instance(ci.Name), counting, released[ci.Name])
		ins[in.name] = in // the key is the instance's own copy of its name
		changed = append(changed, in)
	}
	n.names = s.names.with(ins)
	return &n, changed
}

// compilePool compiles one pool for view, with the operator's overrides.
func compilePool(p *config.Pool, view health.View, over *Overrides, explain bool) *cpool {
	// The compiled pool, its policy pool and their first addresses in one
	// allocation.
	b := &struct {
		cp    cpool
		pool  policy.Pool
		addrs [2]policy.Addr
	}{}
	cp := &b.cp
	monitored := p.Monitor != ""
	cp.pool = &b.pool
	cp.pool.Init(p, func(a *config.Address) bool {
		st := view.Status(health.Key{Pool: p.Name, Address: a.Value()})
		mode := over.Mode(p.Name, a)
		// A forced-up address that probes say is down is still answered,
		// and known to fail: the answer is degraded as for any other.
		if mode != config.ModeDown && st == health.Unhealthy {
			cp.sick = true
		}
		if mode == config.ModeAuto && st == health.Unknown && (monitored || a.Monitor != "") {
			cp.unsure = true
		}
		return health.Usable(mode, st)
	}, b.addrs[:])
	var sum time.Duration
	n := 0
	for _, a := range p.Addresses {
		k := health.Key{Pool: p.Name, Address: a.Value()}
		if l, ok := view.Latency(k); ok && health.Usable(over.Mode(p.Name, a), view.Status(k)) {
			sum += l
			n++
		}
	}
	if n > 0 {
		cp.latency, cp.measured = sum/time.Duration(n), true
	}
	if vl := vantagesOf(view); vl != nil {
		for _, v := range vl.Vantages() {
			sum, n := time.Duration(0), 0
			for _, a := range p.Addresses {
				k := health.Key{Pool: p.Name, Address: a.Value()}
				if l, ok := vl.LatencyFrom(v, k); ok && health.Usable(over.Mode(p.Name, a), view.Status(k)) {
					sum += l
					n++
				}
			}
			if n > 0 {
				if cp.far == nil {
					cp.far = map[config.Vantage]time.Duration{}
				}
				cp.far[v] = sum / time.Duration(n)
			}
		}
	}
	if explain {
		getter, _ := view.(interface {
			Get(health.Key) (health.Record, bool)
		})
		cp.records, cp.probed = make([]health.Record, len(p.Addresses)), make([]bool, len(p.Addresses))
		for i, a := range p.Addresses {
			k := health.Key{Pool: p.Name, Address: a.Value()}
			if getter != nil {
				cp.records[i], cp.probed[i] = getter.Get(k)
			} else if st := view.Status(k); st != health.Unknown {
				cp.records[i], cp.probed[i] = health.Record{Status: st}, true
			}
		}
	}
	return cp
}

// compileInstance compiles one instance from the pools of s. was is the
// instance it replaces (nil if none), whose manual-failback holds it keeps
// unless released.
func (s *snapshot) compileInstance(ci *config.Instance, was *instance, counting, released bool) *instance {
	held := was // whose manual-failback holds carry over
	if released {
		held = nil
	}
	sw := s.over.Switch(ci)
	// The instance and its first rule in one allocation: most instances
	// have one rule, and a query reads both.
	b := &struct {
		name     [48]byte
		in       instance
		first    rule
		rules    [1]*rule
		counters [2]poolCounter
		// An all-down rule's fail-open pool and collection, which every
		// instance of a large outage needs at once.
		open      [1]*policy.Pool
		openPool  policy.Pool
		openAddrs [2]policy.Addr
		pool      policy.Pool // a copy of the first pool: see healthy
		addrs     [2]policy.Addr
	}{}
	in := &b.in
	in.src, in.name, in.zone = ci, ci.Name, s.zones[longestZone(s.cfg.Zones, ci.Name)]
	if len(ci.Name) <= len(b.name) {
		// The name the name map compares a question with, next to what
		// the answer reads next: one cache miss where there were two.
		n := copy(b.name[:], ci.Name)
		in.name = unsafe.String(&b.name[0], n)
	}
	in.ignoreECS, in.latency = ci.IgnoreECS, ci.Policy == config.PolicyLatency
	if ci.HTTPS != nil || ci.SVCB != nil {
		in.svc = &[2]*svcParams{compileSVC(ci.HTTPS), compileSVC(ci.SVCB)}
	}
	if in.nearest = ci.Policy == config.PolicyNearest; in.nearest {
		in.byClient, in.tiePct, in.tieKm = true, ci.TiePercent, float64(ci.TieKm)
	}
	in.rules, in.answers = b.rules[:0], b.counters[:0]
	if was != nil && was.counts != nil {
		in.counts = was.counts
	} else {
		in.counts = &instCounters{}
	}
	in.qtype = qtypeOf(s.idx.pools.get(ci.Rules[0].Primary.Members[0].Pool).Type)
	if in.qtype != dns.TypeCNAME {
		v4, v6 := ci.Families(s.idx.pools.get)
		if in.dual = v4 && v6; in.dual {
			in.qtype = 0 // A from the IPv4 pools, AAAA from the IPv6 ones
		}
	}
	// The instance's first pool (when small) is copied into its block, so
	// that a query at 100,000 instances finds the addresses without
	// another cache miss; the copy is made again whenever the pool is
	// compiled, since a pool's compile compiles its instances too.
	local := ""
	healthy := func(name string) *policy.Pool {
		p := s.pools.get(name).pool
		switch {
		case name == local:
			return &b.pool
		case local == "" && len(p.Avail) <= len(b.addrs):
			local = name
			b.pool = *p
			b.pool.Avail = b.addrs[:len(p.Avail)]
			copy(b.pool.Avail, p.Avail)
			for i := range b.pool.Avail {
				b.pool.Avail[i].Pool = &b.pool
			}
			return &b.pool
		}
		return p
	}
	// Fail-open pools ignore probes but never a forced-down address; they
	// are compiled only for rules that are all down.
	failOpen := b.open[:0] // few: a slice, not a map per instance
	openPool := func(name string) *policy.Pool {
		for _, p := range failOpen {
			if p.Name == name {
				return p
			}
		}
		p := s.idx.pools.get(name)
		usable := func(a *config.Address) bool { return s.over.Mode(p.Name, a) != config.ModeDown }
		var op *policy.Pool
		if len(failOpen) == 0 {
			op = &b.openPool
			op.Init(p, usable, b.openAddrs[:])
		} else {
			op = policy.NewPool(p, usable)
		}
		failOpen = append(failOpen, op)
		return op
	}
	poolLatency := func(p *policy.Pool) (time.Duration, bool) {
		if cp := s.pools.get(p.Name); cp != nil {
			return cp.latency, cp.measured
		}
		return 0, false
	}
	for _, cr := range ci.Rules {
		// A manual-failback hold outlives a reload only for a rule whose
		// match and collections are unchanged.
		var prevState State
		var prevRule *rule
		if old := held.rule(cr.Name()); old != nil && (old.src == cr || old.src.Fingerprint() == cr.Fingerprint()) {
			prevState, prevRule = old.state, old
		}
		r := &b.first
		if len(in.rules) > 0 {
			r = new(rule)
		}
		r.name = cr.Name()
		rsw := s.over.ruleSwitch(ci.Name, r.name, sw) // a rule's pin wins over its instance's
		compileRule(r, ci, rsw, cr, healthy, openPool, prevState)
		r.src = cr
		base := r.active // what the fastest from other vantage points are drawn from
		switch {
		case in.dual:
			// Other vantage points' latencies are not ranked per family:
			// a dual-stack latency instance answers by this node's.
			base = nil
			compileFamilies(r, ci, rsw, cr, healthy, openPool, prevRule, s.idx.pools.get)
			if in.latency {
				r.fastestFamilies(poolLatency, ci.TiePercent, ci.Tie)
			}
		case in.latency && (r.state == StatePrimary || r.state == StateSecondary):
			r.active = r.active.Fastest(poolLatency, ci.TiePercent, ci.Tie)
		default:
			base = nil
		}
		in.rules = append(in.rules, r)
		in.index(cr, r)
		if !in.dual {
			s.settle(in, r, ci, rsw, counting)
		} else {
			// The rule as a whole is degraded when a family is, and shows
			// the shorter TTL.
			r.ttl, r.degraded = ci.TTL, false
			for i := range r.fam {
				f := &r.fam[i]
				s.settle(in, f, ci, rsw, counting)
				r.degraded = r.degraded || f.degraded
				r.ttl = min(r.ttl, f.ttl)
			}
		}
		if counting {
			r.answered = in.counts.ruleCounter(r.name, stateWord(r.state))
		}
		actives := [2]*policy.Collection{r.active}
		if r.fam != nil {
			actives = [2]*policy.Collection{r.fam[0].active, r.fam[1].active}
		}
		for _, act := range actives {
			if act == nil {
				continue
			}
			for _, m := range act.Members {
				r.hash4 = max(r.hash4, uint8(m.Pool.HashBits(netip.IPv4Unspecified())))
				r.hash6 = max(r.hash6, uint8(m.Pool.HashBits(netip.IPv6Unspecified())))
			}
			// A hash pool answers by the client's address: the instance
			// must look at it even with a default rule alone.
			in.byClient = in.byClient || r.hash4 != 0
		}
		if base != nil {
			s.farRules(r, base, ci)
			if len(r.far) > 0 {
				in.byClient = true // the answer depends on where the client is
			}
		}
	}
	if counting && (in.geo || in.nearest) {
		in.geoMisses = geoMisses.WithLabelValues(ci.Name)
	}
	return in
}

// settle sets the TTL of a decided rule r (or a family of one) and whether
// it is degraded, and gives the pools it answers from their counters.
func (s *snapshot) settle(in *instance, r *rule, ci *config.Instance, rsw config.Switch, counting bool) {
	// Serving anything but the primary is degraded, unless an operator
	// pinned the secondary on purpose.
	r.ttl = ci.TTL
	r.degraded = r.state != StatePrimary && !(rsw == config.SwitchSecondary && r.state == StateSecondary)
	if r.active != nil {
		for _, m := range r.active.Members {
			if cp := s.pools.get(m.Pool.Name); r.state != StateFallback && cp != nil && (cp.sick || cp.unsure) {
				r.degraded = true
			}
			if !counting {
				continue
			}
			label := m.Pool.Name
			if r.state == StateFallback {
				label = ""
			}
			in.answers.set(m.Pool, in.counts.get(label))
		}
	}
	if r.degraded {
		r.ttl = ci.EffectiveDegradedTTL()
	}
}

// hashBits is the client prefix length of a's family that the rule's
// answer depends on through a hash pool.
func (r *rule) hashBits(a netip.Addr) int {
	if a.Is4() {
		return int(r.hash4)
	}
	return int(r.hash6)
}

// farRules gives r a copy for each other vantage point from which the
// fastest of base's pools are not those r answers with.
func (s *snapshot) farRules(r *rule, base *policy.Collection, ci *config.Instance) {
	var seen []config.Vantage
	for _, m := range base.Avail {
		if cp := s.pools.get(m.Pool.Name); cp != nil {
			for v := range cp.far {
				if !slices.Contains(seen, v) {
					seen = append(seen, v)
				}
			}
		}
	}
	for _, v := range seen {
		act := base.Fastest(func(p *policy.Pool) (time.Duration, bool) {
			if cp := s.pools.get(p.Name); cp != nil {
				d, ok := cp.far[v]
				return d, ok
			}
			return 0, false
		}, ci.TiePercent, ci.Tie)
		if sameAvail(act, r.active) {
			continue
		}
		fr := new(rule)
		*fr = *r
		fr.active, fr.far = act, nil
		fr.why = r.why + "; fastest from vantage " + v.Region
		r.far = append(r.far, farRule{continent: v.Continent, country: v.Country, r: fr})
	}
}

// sameAvail reports whether a and b answer from the same pools.
func sameAvail(a, b *policy.Collection) bool {
	if len(a.Avail) != len(b.Avail) {
		return false
	}
	for i := range a.Avail {
		if a.Avail[i].Pool != b.Avail[i].Pool {
			return false
		}
	}
	return true
}

// index files a compiled rule under its match values.
func (in *instance) index(cr *config.Rule, r *rule) {
	add := func(m *map[string]*rule) {
		if *m == nil {
			*m = make(map[string]*rule)
		}
		for _, v := range cr.Values {
			(*m)[v] = r
		}
		in.geo, in.byClient = true, true
	}
	switch cr.Match {
	case config.MatchDefault:
		in.def = r
	case config.MatchCIDR:
		for _, v := range cr.Values {
			in.cidr.Insert(netip.MustParsePrefix(v), r)
		}
		in.byClient = true
	case config.MatchASN:
		if in.asns == nil {
			in.asns = make(map[uint32]*rule, len(cr.Values))
		}
		for _, v := range cr.Values {
			n, _ := strconv.ParseUint(v, 10, 32) // validated
			in.asns[uint32(n)] = r
		}
		in.byClient = true
	case config.MatchSubdivision:
		add(&in.subdivisions)
	case config.MatchCountry:
		add(&in.countries)
	case config.MatchContinent:
		add(&in.continents)
	}
}

// compileRule decides a rule's answer with the rule switched as sw (its
// pin, else its instance's switch), into r.
func compileRule(r *rule, ci *config.Instance, sw config.Switch, cr *config.Rule, healthy,
	openPool func(string) *policy.Pool, prevState State) {
	r.primary = &r.cols[0]
	r.primary.Init(cr.Primary, healthy, sw == config.SwitchPrimary, r.mems[0:4:4])
	if cr.Secondary != nil {
		r.secondary = &r.cols[1]
		r.secondary.Init(cr.Secondary, healthy, sw == config.SwitchSecondary, r.mems[4:8:8])
	}
	switch sw {
	case config.SwitchAuto:
		// Manual failback: once on the secondary, stay there while it
		// answers, until an operator switches back.
		manualHold := ci.Failback == config.Manual && prevState == StateSecondary
		switch {
		case r.primary.Available && !(manualHold && r.secondary != nil && r.secondary.Available):
			r.active, r.state, r.why = r.primary, StatePrimary, "primary available"
		case r.secondary != nil && r.secondary.Available:
			r.active, r.state, r.why = r.secondary, StateSecondary, "primary below its availability rule"
			if r.primary.Available {
				r.why = "manual failback: primary available again, waiting for an operator"
				r.held = true
			}
		}
	case config.SwitchPrimary:
		// Pinned: answer whatever the pinned collection still has, even below
		// its min-available rule; the operator asked for it.
		if len(r.primary.Avail) > 0 {
			r.active, r.state, r.why = r.primary, StatePrimary, "pinned to primary"
		}
	case config.SwitchSecondary:
		if r.secondary != nil && len(r.secondary.Avail) > 0 {
			r.active, r.state, r.why = r.secondary, StateSecondary, "pinned to secondary"
		}
	}
	if r.active != nil {
		return
	}
	r.why = "no collection available"
	switch ci.AllDown {
	case config.FailOpen:
		// First what still works: the usable addresses (healthy or forced
		// up) of the primary collection, or of the pinned one, below its
		// availability rule. Only when none is usable, every address not
		// forced down: better a guess than nothing.
		col, which := cr.Primary, "primary"
		if sw == config.SwitchSecondary && cr.Secondary != nil {
			col, which = cr.Secondary, "pinned secondary"
		}
		if sw == config.SwitchAuto {
			usable := &r.cols[2]
			if usable.Init(col, healthy, true, r.mems[8:]); len(usable.Avail) > 0 {
				r.active, r.state = usable, StateFailOpen
				r.why = "no collection available; fail-open: the usable addresses of the primary collection"
				return
			}
			if cr.Secondary != nil {
				if usable.Init(cr.Secondary, healthy, true, r.mems[8:]); len(usable.Avail) > 0 {
					r.active, r.state = usable, StateFailOpen
					r.why = "no collection available, none of the primary's addresses usable; fail-open: the usable addresses of the secondary collection"
					return
				}
			}
		}
		r.active, r.state = &r.cols[2], StateFailOpen
		r.active.Init(col, openPool, true, r.mems[8:])
		r.why = "no address usable; fail-open: every address of the " + which + " collection not in mode down"
		if len(r.active.Avail) == 0 { // everything forced down: nothing to open
			r.active, r.state, r.why = nil, StateNoData, "no address usable, every one in mode down"
		}
	case config.Fallback:
		r.active, r.state = policy.Fixed(ci.Fallbacks), StateFallback
	case config.NoData:
		r.state = StateNoData
	case config.ServFail:
		r.state = StateServFail
	}
}

func newZone(cfg *config.Config, name string, serial uint32) *zone {
	mname, rname := cfg.SOANames(name)
	z := &zone{name: name, serial: new(atomic.Uint32)}
	z.serial.Store(serial)
	refresh, retry, expire, minimum := cfg.SOA.Timers()
	z.soa = dns.SOA{
		// The record's TTL is the minimum too: a resolver caches a denial
		// for the smaller of the two (RFC 2308 §5).
		Hdr:     dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: minimum},
		Ns:      mname,
		Mbox:    rname,
		Serial:  serial, // the template's; replies take the zone's current one
		Refresh: refresh,
		Retry:   retry,
		Expire:  expire,
		Minttl:  minimum,
	}
	for _, n := range cfg.NSNames(name) {
		z.ns = append(z.ns, dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: cfg.EffectiveNSTTL()}, Ns: n})
	}
	return z
}

// compileHosts makes the address records of the name servers that lie in
// the zones, and the glue of every zone's NS answer (RFC 1034 4.3.2: the
// addresses of the NS targets go in the additional section).
func (s *snapshot) compileHosts(cfg *config.Config) {
	var glue []dns.RR
	ttl := cfg.EffectiveNSTTL()
	for _, ns := range cfg.NS {
		z := s.zones[longestZone(cfg.Zones, ns.Name)]
		if z == nil || len(ns.Addrs) == 0 {
			continue
		}
		h := &host{zone: z}
		for _, a := range ns.Addrs {
			if a.Is4() {
				h.a = append(h.a, &dns.A{Hdr: dns.RR_Header{Name: ns.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: a.AsSlice()})
			} else {
				h.aaaa = append(h.aaaa, &dns.AAAA{Hdr: dns.RR_Header{Name: ns.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: a.AsSlice()})
			}
		}
		s.hosts[ns.Name] = h
		glue = append(append(glue, h.a...), h.aaaa...)
		s.addENTs(ns.Name, z)
	}
	for _, z := range s.zones {
		z.glue = glue
	}
}

// addENTs records every name between name and its zone as existing without
// data (NODATA, not NXDOMAIN).
func (s *snapshot) addENTs(name string, z *zone) {
	// The root zone's name is "."; stripping labels ends at "".
	for n := name; n != z.name && n != "" && n != "."; {
		i, _ := dns.NextLabel(n, 0)
		n = n[i:]
		if n != z.name && n != "" {
			s.ents[n] = z
		}
	}
}

// longestZone is the most specific of zones that contains name.
func longestZone(zones []string, name string) string {
	best := ""
	for _, z := range zones {
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

func qtypeOf(t config.Type) uint16 {
	switch t {
	case config.TypeAAAA:
		return dns.TypeAAAA
	case config.TypeCNAME:
		return dns.TypeCNAME
	}
	return dns.TypeA
}
