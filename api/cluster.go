package api

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Health shared by a cluster. Each node that probes publishes its own
// verdicts under PREFIX+"health/votes/NODE/POOL/ADDRESS" ("up" or "down")
// and, with a vantage point, the latencies of latency pools under
// PREFIX+"health/latency/NODE/POOL/ADDRESS" ("µs region continent country"),
// writing only when one changes, under a lease it keeps alive: when the
// node dies or is cut off, its keys lapse with the lease and its votes
// stop counting. Every node reads all votes (once, then through a watch)
// and computes the cluster's verdict per address: down when at least
// quorum percent of the nodes voting on it see it down. The engine
// answers from those verdicts (engine.Verdicts) and from its own probes
// for addresses no live node votes on.
//
// A node that cannot reach etcd keeps the last verdicts it read for the
// grace period, then falls back on its own probes (a resolution-only
// node, which has none, keeps the last verdicts), and goes back to the
// cluster's once it has read them again. One node, elected through etcd,
// records the cluster's events and sends its alerts, so that each
// happens once per cluster.
//
// The component belongs to the store a process shares between reloads
// (shared), so that a reload neither drops this node's votes nor makes
// another node see them flap.

var (
	clusterFallback = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "cluster_fallback",
		Help: "1 while this node, cut off from etcd for longer than its grace period, answers from its own probes instead of the cluster's verdicts.",
	})
	clusterVerdictWrites = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "cluster_verdict_writes_total",
		Help: "Verdicts this node wrote to etcd (puts and deletes), one per change of its own probes' verdict on an address.",
	})
	clusterLeader = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "cluster_leader",
		Help: "1 while this node is the one that records the cluster's events and sends its alerts.",
	})
)

const (
	// reachEvery is how often a node checks that etcd answers (a
	// linearizable read, which a member cut off from its quorum fails).
	reachEvery = time.Second
	// publishBatch is the most verdicts written in one transaction,
	// below etcd's default limit of 128 operations.
	publishBatch = 100
	// latencyEvery is how often a node with a vantage publishes the
	// latencies that moved; latencyMove is how far one must move, at
	// least, to be written again (a fifth, and a millisecond), so that
	// jitter writes nothing.
	latencyEvery = 5 * time.Second
	latencyMove  = time.Millisecond
)

// clusterHealth is one process's part in a cluster's health.
type clusterHealth struct {
	cli    *clientv3.Client
	prefix string // PREFIX+"health/": what the watch follows
	votesP string // PREFIX+"health/votes/"
	latP   string // PREFIX+"health/latency/"
	lead   string // PREFIX+"leader"

	// Set by use, read by the loop.
	mu      sync.Mutex
	eng     *engine.Engine
	node    string
	noProbe bool
	quorum  int
	grace   time.Duration
	vantage config.Vantage
	kick    chan struct{} // use changed the engine or the settings
	back    chan struct{} // etcd answers again after failing

	vmu      sync.RWMutex
	votes    map[health.Key]map[string]bool // node → sees it down
	verdicts map[health.Key]health.Status   // the quorum's, for keys with votes
	lat      map[health.Key]map[string]nodeLatency
	vants    []config.Vantage // the other nodes' vantage points with latencies; replaced, never changed
	synced   atomic.Bool      // read from etcd once
	fallback atomic.Bool
	leader   atomic.Bool
	// duplicate: another live process holds this node's name; this one
	// publishes no votes meanwhile (they would be taken for the other's).
	duplicate atomic.Bool
	since     atomic.Int64 // Unix nanoseconds of the last fallback or return
	lastOK    atomic.Int64 // Unix nanoseconds of the last read etcd answered
	// failing is why etcd did not answer the last check (nil when it did),
	// since when failSince.
	failing   atomic.Pointer[string]
	failSince atomic.Int64

	cancel context.CancelFunc
	// elCancel ends the context of the election's client (see elect):
	// at close, once its clean-up has had stopWait to reach etcd.
	elCtx    context.Context
	elCancel context.CancelFunc
	// named is closed when the node's name is first set (use).
	named     chan struct{}
	namedOnce sync.Once
	wg        sync.WaitGroup
}

// stopWait is how long close lets the election clean up through etcd
// (resign, revoke) before cutting it short.
const stopWait = 2 * time.Second

func newClusterHealth(cli *clientv3.Client, prefix string) *clusterHealth {
	c := &clusterHealth{cli: cli, prefix: prefix + "health/", votesP: prefix + "health/votes/", latP: prefix + "health/latency/",
		lead: prefix + "leader", named: make(chan struct{}), kick: make(chan struct{}, 1), back: make(chan struct{}, 1), votes: map[health.Key]map[string]bool{},
		verdicts: map[health.Key]health.Status{}, lat: map[health.Key]map[string]nodeLatency{}}
	c.lastOK.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.elCtx, c.elCancel = context.WithCancel(context.Background())
	c.wg.Add(3)
	go c.run(ctx)
	go c.elect(ctx)
	go c.checkReach(ctx)
	return c
}

// use makes e, with set's cluster settings, the engine the cluster's
// verdicts are given to and its probes' verdicts read from.
func (c *clusterHealth) use(e *engine.Engine, node string, set *config.API) {
	c.mu.Lock()
	c.eng, c.node, c.noProbe = e, node, set.NoProbe
	c.quorum, c.grace, c.vantage = set.Quorum, set.Grace, set.Vantage
	if c.quorum == 0 {
		c.quorum = config.DefaultQuorum
	}
	c.mu.Unlock()
	c.namedOnce.Do(func() { close(c.named) })
	c.recount()
	e.UseVerdicts(c)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *clusterHealth) settings() (e *engine.Engine, node string, noProbe bool, quorum int, grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eng, c.node, c.noProbe, c.quorum, c.grace
}

// close stops taking part: this node's votes go at once (its lease is
// revoked), and it stands down as the events' recorder.
func (c *clusterHealth) close() {
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopWait):
		// etcd does not answer: end the election's clean-up.
		c.elCancel()
		<-done
	}
	c.elCancel()
	clusterLeader.Set(0)
	clusterFallback.Set(0)
}

// Verdict implements engine.Verdicts.
func (c *clusterHealth) Verdict(k health.Key) (health.Status, bool) {
	if c.fallback.Load() {
		c.mu.Lock()
		noProbe := c.noProbe
		c.mu.Unlock()
		if !noProbe {
			return health.Unknown, false
		}
	}
	c.vmu.RLock()
	st, ok := c.verdicts[k]
	c.vmu.RUnlock()
	return st, ok
}

// Ready implements engine.Verdicts: the votes were read once, or the node
// answers from its own probes for want of them.
func (c *clusterHealth) Ready() bool { return c.synced.Load() || c.fallback.Load() }

// nodeLatency is a node's latency measurement of an address, with the
// vantage it was measured from.
type nodeLatency struct {
	d time.Duration
	v config.Vantage
}

// voteKey is where node's vote on k is kept; latencyKey, its latency
// measurement.
func (c *clusterHealth) voteKey(node string, k health.Key) string {
	return c.votesP + node + "/" + url.PathEscape(k.Pool) + "/" + url.PathEscape(k.Address)
}

func (c *clusterHealth) latencyKey(node string, k health.Key) string {
	return c.latP + node + "/" + url.PathEscape(k.Pool) + "/" + url.PathEscape(k.Address)
}

// parseKey splits a vote's or a latency's key into its node and address;
// latency says which it is.
func (c *clusterHealth) parseKey(key string) (node string, k health.Key, latency, ok bool) {
	rest, ok := strings.CutPrefix(key, c.votesP)
	if !ok {
		if rest, ok = strings.CutPrefix(key, c.latP); !ok {
			return "", k, false, false
		}
		latency = true
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", k, false, false
	}
	pool, err1 := url.PathUnescape(parts[1])
	addr, err2 := url.PathUnescape(parts[2])
	if err1 != nil || err2 != nil || parts[0] == "" {
		return "", k, false, false
	}
	return parts[0], health.Key{Pool: pool, Address: addr}, latency, true
}

// latencyValue is a latency's value: microseconds, then the vantage's
// region, continent and country ("-" for none).
func latencyValue(d time.Duration, v config.Vantage) string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return fmt.Sprintf("%d %s %s %s", d.Microseconds(), dash(v.Region), dash(v.Continent), dash(v.Country))
}

func parseLatency(s string) (nodeLatency, bool) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return nodeLatency{}, false
	}
	us, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || us < 0 {
		return nodeLatency{}, false
	}
	undash := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	return nodeLatency{d: time.Duration(us) * time.Microsecond,
		v: config.Vantage{Region: undash(f[1]), Continent: undash(f[2]), Country: undash(f[3])}}, true
}

// Vantages implements engine.VantageLatencies.
func (c *clusterHealth) Vantages() []config.Vantage {
	if c.fallback.Load() {
		return nil // cut off: its own measurements only
	}
	c.vmu.RLock()
	defer c.vmu.RUnlock()
	return c.vants
}

// LatencyFrom implements engine.VantageLatencies.
func (c *clusterHealth) LatencyFrom(v config.Vantage, k health.Key) (time.Duration, bool) {
	c.vmu.RLock()
	defer c.vmu.RUnlock()
	var sum time.Duration
	n := 0
	for _, l := range c.lat[k] {
		if l.v == v {
			sum += l.d
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / time.Duration(n), true
}

// vantagesLocked recomputes the other nodes' vantage points, under vmu.
func (c *clusterHealth) vantagesLocked(self string) {
	var vs []config.Vantage
	for _, byNode := range c.lat {
		for node, l := range byNode {
			if node != self && !slices.Contains(vs, l.v) {
				vs = append(vs, l.v)
			}
		}
	}
	slices.SortFunc(vs, func(a, b config.Vantage) int {
		return strings.Compare(a.Region+a.Continent+a.Country, b.Region+b.Continent+b.Country)
	})
	c.vants = vs
}

// tally is the quorum's verdict on votes, and how many see it down.
func tally(votes map[string]bool, quorum int) (health.Status, int) {
	down := 0
	for _, d := range votes {
		if d {
			down++
		}
	}
	if down > 0 && down*100 >= quorum*len(votes) {
		return health.Unhealthy, down
	}
	return health.Healthy, down
}

// recount computes every verdict again (the quorum may have changed) and
// tells the engine which pools moved.
func (c *clusterHealth) recount() {
	_, _, _, quorum, _ := c.settings()
	c.vmu.RLock()
	keys := slices.Collect(maps.Keys(c.votes))
	c.vmu.RUnlock()
	c.settle(keys, quorum, false)
}

// settle computes the verdicts on keys from their votes, records the
// changes as events (when events is set) and tells the engine.
func (c *clusterHealth) settle(keys []health.Key, quorum int, events bool) {
	type change struct {
		k        health.Key
		old, now health.Status
		reason   string
	}
	var changes []change
	c.vmu.Lock()
	for _, k := range keys {
		old, had := c.verdicts[k]
		v := c.votes[k]
		if len(v) == 0 {
			delete(c.votes, k)
			delete(c.verdicts, k)
			if had {
				changes = append(changes, change{k, old, health.Unknown, "no live node probes it"})
			}
			continue
		}
		now, down := tally(v, quorum)
		c.verdicts[k] = now
		if !had || old != now {
			changes = append(changes, change{k, old, now, fmt.Sprintf("%d of %d probing nodes see it down (quorum %d%%)", down, len(v), quorum)})
		}
	}
	c.vmu.Unlock()
	if len(changes) == 0 {
		return
	}
	e, _, _, _, _ := c.settings()
	pools := make([]string, 0, len(changes))
	for _, ch := range changes {
		pools = append(pools, ch.k.Pool)
		if events && ch.old != ch.now {
			engine.ClusterVerdict([]health.Key{ch.k}, ch.old, ch.now, ch.reason)
		}
	}
	if e != nil {
		slices.Sort(pools)
		e.VerdictsChanged(slices.Compact(pools))
	}
}

// run keeps this node's votes published and the cluster's read.
func (c *clusterHealth) run(ctx context.Context) {
	defer c.wg.Done()
	var (
		lease     clientv3.LeaseID
		ka        <-chan *clientv3.LeaseKeepAliveResponse
		kaCancel  = func() {}
		published = map[health.Key]health.Status{}
		pubLat    = map[health.Key]time.Duration{}
		latTick   = time.NewTicker(latencyEvery)
		latDue    = true
		watch     clientv3.WatchChan
		wCancel   = func() {}
		resync    = true
		probed    <-chan struct{}
	)
	defer latTick.Stop()
	defer func() {
		wCancel()
		kaCancel()
		if lease != 0 {
			rc, cancel := context.WithTimeout(context.Background(), time.Second)
			c.cli.Revoke(rc, lease) // the votes go with it; else they lapse
			cancel()
		}
	}()
	for {
		e, node, noProbe, quorum, _ := c.settings()
		if e != nil {
			probed = e.ProbedChanged()
		}
		failing := c.failing.Load() != nil
		// Read every vote, then follow them from that revision.
		if resync && ctx.Err() == nil {
			if rev, err := c.readAll(ctx, quorum); err == nil {
				wCancel()
				wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
				watch, wCancel = c.cli.Watch(wctx, c.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)), cancel
				resync = false
				c.reached(node)
			}
		}
		// Publish what changed in this node's own verdicts; not while etcd
		// does not answer, which would hold this loop for every attempt.
		if e != nil && !noProbe && !c.duplicate.Load() && !failing && ctx.Err() == nil {
			if lease == 0 {
				gctx, cancel := context.WithTimeout(ctx, commitTimeout)
				g, err := c.cli.Grant(gctx, nodeTTL)
				cancel()
				if err == nil {
					kctx, kcancel := context.WithCancel(ctx)
					if ka, err = c.cli.KeepAlive(kctx, g.ID); err == nil {
						lease, kaCancel = g.ID, kcancel
						clear(published) // a new lease: every vote again
						clear(pubLat)
						latDue = true
					} else {
						kcancel()
					}
				}
			}
			if lease != 0 {
				if err := c.publish(ctx, e, node, lease, published); err != nil && ctx.Err() == nil {
					log.Warningf("api: cluster: publishing node %s's verdicts: %v", node, err)
				}
			}
			c.mu.Lock()
			v := c.vantage
			c.mu.Unlock()
			if lease != 0 && latDue && (v.Continent != "" || v.Country != "") {
				if err := c.publishLatency(ctx, e, node, v, lease, pubLat); err != nil && ctx.Err() == nil {
					log.Warningf("api: cluster: publishing node %s's latencies: %v", node, err)
				} else {
					latDue = false
				}
			}
		} else if (noProbe || c.duplicate.Load()) && lease != 0 {
			// Turned resolution-only by a reload, or its name is taken:
			// its votes go.
			kaCancel()
			rc, cancel := context.WithTimeout(ctx, time.Second)
			c.cli.Revoke(rc, lease)
			cancel()
			lease, ka, kaCancel = 0, nil, func() {}
			clear(published)
			clear(pubLat)
		}
		select {
		case <-latTick.C:
			latDue = true
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-probed:
		case _, ok := <-ka:
			if !ok { // the lease lapsed (cut off too long) or its keep-alive ended
				kaCancel()
				lease, ka, kaCancel = 0, nil, func() {}
			}
		case wr, ok := <-watch:
			if !ok || wr.Err() != nil || wr.Canceled {
				watch, resync = nil, true
				continue
			}
			c.apply(wr.Events, quorum)
		case <-c.back:
			// etcd answers again: the watch may have missed what happened
			// meanwhile.
			resync = true
		}
	}
}

// checkReach reads etcd every reachEvery (linearizable, so a member cut
// off from its quorum fails too), apart from the loop that publishes and
// follows, whose writes may wait on a silent network: past grace without
// an answer, the node falls back on its own probes.
func (c *clusterHealth) checkReach(ctx context.Context) {
	defer c.wg.Done()
	tick := time.NewTicker(reachEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, reachEvery)
		_, err := c.cli.Get(rctx, c.lead, clientv3.WithCountOnly())
		cancel()
		switch {
		case err == nil:
			c.lastOK.Store(time.Now().UnixNano())
			if c.failing.Swap(nil) != nil {
				select {
				case c.back <- struct{}{}:
				default:
				}
			}
		case ctx.Err() == nil:
			why := unreachableWhy(err, reachEvery)
			if c.failing.Swap(&why) == nil {
				c.failSince.Store(time.Now().UnixNano())
			}
			_, node, _, _, grace := c.settings()
			if cut := time.Since(time.Unix(0, c.lastOK.Load())); cut >= grace && !c.fallback.Load() {
				c.fallBack(node, cut, err)
			}
		}
	}
}

// reached marks etcd answering, and ends a fallback.
func (c *clusterHealth) reached(node string) {
	c.lastOK.Store(time.Now().UnixNano())
	c.synced.Store(true)
	if c.fallback.CompareAndSwap(true, false) {
		c.since.Store(time.Now().UnixNano())
		clusterFallback.Set(0)
		log.Infof("api: cluster: node %s reaches etcd again and answers from the cluster's verdicts", node)
		engine.NodeEvent(node, "own probes", "cluster verdicts", "etcd answers again")
		if e, _, _, _, _ := c.settings(); e != nil {
			e.VerdictsChanged(nil)
		}
	}
}

// fallBack makes the node answer from its own probes.
func (c *clusterHealth) fallBack(node string, cut time.Duration, err error) {
	c.fallback.Store(true)
	c.since.Store(time.Now().UnixNano())
	clusterFallback.Set(1)
	_, _, noProbe, _, _ := c.settings()
	how := "answers from its own probes"
	if noProbe {
		how = "probes nothing (probe off), so keeps answering from the cluster's last verdicts"
	}
	log.Warningf("api: cluster: node %s has not reached etcd for %s (%v): it %s until etcd answers again", node, cut.Round(time.Second), err, how)
	engine.NodeEvent(node, "cluster verdicts", "own probes", fmt.Sprintf("etcd unreachable for %s: %v", cut.Round(time.Second), err))
	if e, _, _, _, _ := c.settings(); e != nil {
		e.VerdictsChanged(nil)
	}
}

// readAll reads every vote and the other nodes' latencies, and returns
// etcd's revision they were read at.
func (c *clusterHealth) readAll(ctx context.Context, quorum int) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, commitTimeout)
	r, err := c.cli.Get(rctx, c.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, err
	}
	votes := make(map[health.Key]map[string]bool, len(r.Kvs))
	lat := map[health.Key]map[string]nodeLatency{}
	latPools := map[string]bool{}
	_, self, _, _, _ := c.settings()
	for _, kv := range r.Kvs {
		node, k, isLat, ok := c.parseKey(string(kv.Key))
		if !ok {
			continue
		}
		if isLat {
			if node == self {
				continue // as in apply: the engine has its own measurements
			}
			if l, ok := parseLatency(string(kv.Value)); ok {
				if lat[k] == nil {
					lat[k] = map[string]nodeLatency{}
				}
				lat[k][node] = l
				latPools[k.Pool] = true
			}
			continue
		}
		if votes[k] == nil {
			votes[k] = map[string]bool{}
		}
		votes[k][node] = string(kv.Value) == "down"
	}
	c.vmu.Lock()
	keys := make([]health.Key, 0, len(votes)+len(c.votes))
	for k := range c.votes {
		if votes[k] == nil {
			keys = append(keys, k)
		}
	}
	for k := range votes {
		keys = append(keys, k)
	}
	c.votes = votes
	for k := range c.lat {
		latPools[k.Pool] = true
	}
	c.lat = lat
	c.vantagesLocked(self)
	first := !c.synced.Load()
	c.vmu.Unlock()
	c.latencyMoved(latPools)
	// The first read is where the node starts from, not news.
	c.settle(keys, quorum, !first)
	return r.Header.Revision, nil
}

// apply takes a watch's events into the votes and latencies.
func (c *clusterHealth) apply(evs []*clientv3.Event, quorum int) {
	keys := make([]health.Key, 0, len(evs))
	latPools := map[string]bool{}
	_, self, _, _, _ := c.settings()
	c.vmu.Lock()
	for _, ev := range evs {
		node, k, isLat, ok := c.parseKey(string(ev.Kv.Key))
		if !ok {
			continue
		}
		if isLat {
			if node == self {
				continue // the engine has its own measurements
			}
			latPools[k.Pool] = true
			if ev.Type == clientv3.EventTypeDelete {
				if delete(c.lat[k], node); len(c.lat[k]) == 0 {
					delete(c.lat, k)
				}
			} else if l, ok := parseLatency(string(ev.Kv.Value)); ok {
				if c.lat[k] == nil {
					c.lat[k] = map[string]nodeLatency{}
				}
				c.lat[k][node] = l
			}
			continue
		}
		keys = append(keys, k)
		if ev.Type == clientv3.EventTypeDelete {
			delete(c.votes[k], node)
			continue
		}
		if c.votes[k] == nil {
			c.votes[k] = map[string]bool{}
		}
		c.votes[k][node] = string(ev.Kv.Value) == "down"
	}
	if len(latPools) > 0 {
		c.vantagesLocked(self)
	}
	c.vmu.Unlock()
	c.settle(keys, quorum, true)
	c.latencyMoved(latPools)
}

// latencyMoved tells the engine that other vantage points' latencies of
// these pools' addresses changed.
func (c *clusterHealth) latencyMoved(pools map[string]bool) {
	if len(pools) == 0 {
		return
	}
	e, _, _, _, _ := c.settings()
	if e == nil {
		return
	}
	names := make([]string, 0, len(pools))
	for p := range pools {
		names = append(names, p)
	}
	e.VerdictsChanged(names)
}

// batch writes operations in transactions of publishBatch, running each
// operation's done once its transaction is committed, so that what was
// published is known exactly even when a later transaction fails.
type batch struct {
	ctx  context.Context
	cli  *clientv3.Client
	ops  []clientv3.Op
	done []func()
}

func (b *batch) add(op clientv3.Op, done func()) error {
	b.ops, b.done = append(b.ops, op), append(b.done, done)
	if len(b.ops) == publishBatch {
		return b.flush()
	}
	return nil
}

func (b *batch) flush() error {
	if len(b.ops) == 0 {
		return nil
	}
	tctx, cancel := context.WithTimeout(b.ctx, commitTimeout)
	_, err := b.cli.Txn(tctx).Then(b.ops...).Commit()
	cancel()
	if err != nil {
		return err
	}
	clusterVerdictWrites.Add(float64(len(b.ops)))
	for _, f := range b.done {
		f()
	}
	b.ops, b.done = b.ops[:0], b.done[:0]
	return nil
}

// publish writes the votes of e's probes that differ from published, and
// deletes those of addresses it no longer has a verdict on.
func (c *clusterHealth) publish(ctx context.Context, e *engine.Engine, node string, lease clientv3.LeaseID, published map[health.Key]health.Status) error {
	now := map[health.Key]health.Status{}
	e.Probed(func(k health.Key, st health.Status) {
		if st != health.Unknown {
			now[k] = st
		}
	})
	b := &batch{ctx: ctx, cli: c.cli}
	for k, st := range now {
		if published[k] == st {
			continue
		}
		v := "up"
		if st == health.Unhealthy {
			v = "down"
		}
		if err := b.add(clientv3.OpPut(c.voteKey(node, k), v, clientv3.WithLease(lease)), func() { published[k] = st }); err != nil {
			return err
		}
	}
	for k := range published {
		if _, ok := now[k]; !ok {
			if err := b.add(clientv3.OpDelete(c.voteKey(node, k)), func() { delete(published, k) }); err != nil {
				return err
			}
		}
	}
	return b.flush()
}

// publishLatency writes the latencies of e's probes (for latency
// instances) that moved far enough since published, with the vantage they
// were measured from, and deletes those no longer measured.
func (c *clusterHealth) publishLatency(ctx context.Context, e *engine.Engine, node string, v config.Vantage, lease clientv3.LeaseID, published map[health.Key]time.Duration) error {
	now := map[health.Key]time.Duration{}
	e.ProbedLatency(func(k health.Key, d time.Duration) { now[k] = d })
	b := &batch{ctx: ctx, cli: c.cli}
	for k, d := range now {
		if old, ok := published[k]; ok {
			if diff := (d - old).Abs(); diff < latencyMove || diff < old/5 {
				continue
			}
		}
		if err := b.add(clientv3.OpPut(c.latencyKey(node, k), latencyValue(d, v), clientv3.WithLease(lease)), func() { published[k] = d }); err != nil {
			return err
		}
	}
	for k := range published {
		if _, ok := now[k]; !ok {
			if err := b.add(clientv3.OpDelete(c.latencyKey(node, k)), func() { delete(published, k) }); err != nil {
				return err
			}
		}
	}
	return b.flush()
}

// elect keeps this node a candidate to record the cluster's events: one
// node at a time, chosen through etcd, so that each event is recorded
// and alerted once.
func (c *clusterHealth) elect(ctx context.Context) {
	defer c.wg.Done()
	// etcd's Campaign, cancelled while it waits its turn, resigns on its
	// client's own context (Client.Ctx), which only the client's Close
	// ends: with etcd unreachable that would wait forever, and the node
	// would never stop. So the election runs on a client that shares the
	// store's connection but has a context of its own, which close ends.
	// (It is never Closed: that would close the shared lessor and watcher.)
	cli := clientv3.NewCtxClient(c.elCtx)
	cli.KV, cli.Lease, cli.Watcher = c.cli.KV, c.cli.Lease, c.cli.Watcher
	// The candidate's value is its node's name, known once an engine uses
	// the cluster: campaigning before would put an empty leader on record.
	select {
	case <-c.named:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(cli, concurrency.WithTTL(nodeTTL), concurrency.WithContext(ctx))
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		el := concurrency.NewElection(sess, c.lead)
		_, node, _, _, _ := c.settings()
		if err := el.Campaign(ctx, node); err == nil {
			c.leader.Store(true)
			clusterLeader.Set(1)
			select {
			case <-ctx.Done():
			case <-sess.Done():
			}
			c.leader.Store(false)
			clusterLeader.Set(0)
		}
		rc, cancel := context.WithTimeout(context.Background(), time.Second)
		el.Resign(rc)
		cancel()
		sess.Close()
	}
}

// ClusterHealth is how this node takes part in the cluster's health.
type ClusterHealth struct {
	Node     string         `json:"node"`
	Vantage  config.Vantage `json:"vantage" doc:"where this node probes from"`
	Probe    bool           `json:"probe" doc:"false for a resolution-only node (probe off)"`
	Quorum   int            `json:"quorum" doc:"percent of the live nodes probing an address that must see it down"`
	Leader   bool           `json:"leader" doc:"this node records the cluster's events and sends its alerts"`
	Synced   bool           `json:"synced" doc:"the cluster's verdicts were read once"`
	Fallback bool           `json:"fallback" doc:"cut off from etcd for longer than the grace period, the node answers from its own probes"`
	Reason   string         `json:"reason,omitempty" doc:"why it falls back"`
	Since    *time.Time     `json:"since,omitempty" doc:"when it fell back or came back"`
	Conflict string         `json:"conflict,omitempty" doc:"why this node neither reports nor votes: its name is another live node's"`
	Votes    int            `json:"votes" doc:"the addresses some live node votes on"`
	Down     int            `json:"down" doc:"the addresses the cluster sees down"`
}

func (c *clusterHealth) status() *ClusterHealth {
	c.mu.Lock()
	h := &ClusterHealth{Node: c.node, Vantage: c.vantage, Probe: !c.noProbe, Quorum: c.quorum}
	grace := c.grace
	c.mu.Unlock()
	// A node that cannot reach etcd records nothing there, whatever its
	// election session still says until it lapses.
	h.Leader = c.leader.Load() && c.failing.Load() == nil
	h.Synced, h.Fallback = c.synced.Load(), c.fallback.Load()
	if h.Fallback {
		h.Reason = fmt.Sprintf("etcd unreachable for longer than the grace period (%s)", grace)
	}
	if n := c.since.Load(); n != 0 {
		t := time.Unix(0, n).UTC()
		h.Since = &t
	}
	c.vmu.RLock()
	h.Votes = len(c.verdicts)
	for _, st := range c.verdicts {
		if st == health.Unhealthy {
			h.Down++
		}
	}
	c.vmu.RUnlock()
	return h
}
