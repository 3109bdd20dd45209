package engine

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/miekg/dns"
)

// The traffic history: answers per instance and pool per minute for the
// last 24 hours, for the console, without Prometheus.
//
// Answers are counted as they always were, by the instances' counters
// (instCounters), which the answer path adds to and nothing else: once a
// minute (on the wall clock's minutes) the recorder reads every running
// engine's counters and files what each counted since its last reading.
// A minute is stored sparsely, only the instances that answered, as a
// stream of varints (about 2 bytes per instance and pool that answered)
// with a mark every markEvery instances to find one without reading the
// whole minute. At 100,000 instances all answering every minute that is
// about 200 KB a minute, so the history is bounded by a budget of bytes
// too: the oldest minutes go first.
//
// The history belongs to the process, one per set of zones (what a server
// block serves), not to an engine: a reload's new engine carries the
// counters over and keeps the history, and two server blocks with pools
// of the same name keep theirs apart.

// Minute is the answers of one minute of an instance, or of a pool.
type Minute struct {
	Start time.Time `json:"start"`
	// Pools are the answers by pool, "" for all-down fallback addresses;
	// nil when there were none.
	Pools map[string]uint64 `json:"pools,omitempty"`
	Total uint64            `json:"total"`
}

const (
	// trafficSlots is how many minutes the history holds: 24 hours.
	trafficSlots = 1440
	// markEvery is how many instances of a minute may have to be read to
	// find one.
	markEvery = 64
	// defaultTrafficBudget bounds the bytes of minutes kept, of all
	// histories together.
	defaultTrafficBudget = 64 << 20
)

// traffic is the process's recorder.
var traffic = &trafficRecorder{every: time.Minute, budget: defaultTrafficBudget, hists: map[string]*trafficHistory{}}

type trafficRecorder struct {
	life   sync.Mutex // orders starts and stops
	users  int        // running engines
	every  time.Duration
	manual bool // no goroutine: tests record by hand
	stop   chan struct{}
	done   chan struct{}

	// The recording goroutine's (or a test's, when manual).
	tick uint32
	pts  []trafficPoint // reused

	mu     sync.Mutex // the map, the budget and the byte counts
	hists  map[string]*trafficHistory
	budget int
	gen    uint32
}

// SetTrafficBudget bounds the bytes the traffic history keeps, for all
// server blocks together (64 MB unless set): beyond it, the oldest minutes
// go first. A minute costs about 2.75 bytes per instance that answered in
// it (and pool, when it answered from several).
func SetTrafficBudget(bytes int) {
	traffic.mu.Lock()
	traffic.budget = bytes
	traffic.mu.Unlock()
}

// trafficIDs is where an instance's counters are in the recorder: in
// which history (gen), under which id (+1), last read at which tick.
type trafficIDs struct{ gen, id, tick uint32 }

type trafficPoint struct {
	inst, ref, pool uint32
	n               uint64
}

// acquire is an engine starting: the first starts the recording.
func (r *trafficRecorder) acquire() {
	r.life.Lock()
	defer r.life.Unlock()
	if r.users++; r.users > 1 || r.manual {
		return
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.run(r.every, r.stop, r.done)
}

// release is an engine stopping: the last stops the recording, and waits
// for it, so that a new one never reads the counters at the same time.
func (r *trafficRecorder) release() {
	r.life.Lock()
	defer r.life.Unlock()
	if r.users--; r.users > 0 || r.stop == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.stop, r.done = nil, nil
}

// run records at every multiple of every on the wall clock.
func (r *trafficRecorder) run(every time.Duration, stop, done chan struct{}) {
	defer close(done)
	for {
		// Multiples since the Unix epoch: whole minutes of the wall clock.
		next := time.Unix(0, (time.Now().UnixNano()/int64(every)+1)*int64(every))
		t := time.NewTimer(time.Until(next))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
			r.record(next)
		}
	}
}

// record files what every running engine's counters counted since their
// last reading under the interval that ends at end (a multiple of every,
// or a little after one).
func (r *trafficRecorder) record(end time.Time) {
	if r.tick++; r.tick == 0 {
		r.tick = 1 // 0 is a counter never read
	}
	m := end.UnixNano()/int64(r.every) - 1
	proc.mu.Lock()
	byZones := map[string][]*Engine{}
	for e := range proc.engines {
		k := zonesKey(e.cfg)
		byZones[k] = append(byZones[k], e)
	}
	proc.mu.Unlock()

	for k, engines := range byZones {
		h := r.history(k, true)
		h.mu.Lock()
		r.pts = h.collect(engines, r.tick, r.pts[:0])
		grown := h.store(m, m*int64(r.every), r.pts)
		h.mu.Unlock()
		r.mu.Lock()
		h.size += grown
		r.mu.Unlock()
	}
	r.trim(m*int64(r.every), byZones)
}

// zonesKey names the history of a configuration's zones.
func zonesKey(cfg *config.Config) string { return strings.Join(cfg.Zones, " ") }

// history returns the history of the zones k, made if create and missing.
func (r *trafficRecorder) history(k string, create bool) *trafficHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hists[k]
	if h == nil && create {
		r.gen++
		h = &trafficHistory{gen: r.gen, ids: map[string]uint32{}, pids: map[string]uint32{}}
		r.hists[k] = h
	}
	return h
}

// trim drops the histories of zones no engine serves any more once they
// hold nothing of the last 24 hours, and the oldest minutes of all while
// they hold more bytes than the budget.
func (r *trafficRecorder) trim(newest int64, running map[string][]*Engine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldest := newest - (trafficSlots-1)*int64(r.every)
	total := 0
	for k, h := range r.hists {
		h.mu.RLock()
		stale := running[k] == nil && h.newest < oldest
		h.mu.RUnlock()
		if stale {
			delete(r.hists, k)
			continue
		}
		total += h.size
	}
	for total > r.budget {
		var victim *trafficHistory
		var slot int
		var at int64
		for _, h := range r.hists {
			h.mu.RLock()
			for i := range h.slots {
				if s := &h.slots[i]; s.start != 0 && (victim == nil || s.start < at) {
					victim, slot, at = h, i, s.start
				}
			}
			h.mu.RUnlock()
		}
		if victim == nil {
			return
		}
		victim.mu.Lock()
		n := victim.slots[slot].size()
		victim.slots[slot] = trafficSlot{}
		victim.size -= n
		victim.mu.Unlock()
		total -= n
	}
}

// trafficHistory is the traffic of one set of zones. Instances and pools
// have small ids, given when they first answer and kept while the
// history lasts (their names are in an arena: 100,000 strings fewer).
type trafficHistory struct {
	mu     sync.RWMutex
	gen    uint32
	arena  config.Arena
	ids    map[string]uint32   // instance name → id
	names  []string            // by id
	first  []uint32            // by id: the pool id of its first pool, +1; 0 for none yet
	more   map[uint32][]uint32 // by id: the pool ids of its other pools, for the few with several
	pids   map[string]uint32   // pool name → id
	pnames []string            // by pool id
	owner  []uint32            // by pool id: the instance that first answered from it
	slots  [trafficSlots]trafficSlot
	newest int64 // the latest minute's start, Unix nanoseconds
	size   int   // bytes of the slots; under the recorder's mu
}

// trafficSlot is one minute: for each instance that answered, in id
// order, the gap from the previous id, then for each of its pools that
// answered, varint(n<<2 | ref follows<<1 | last), and the pool's ref
// (its place among the instance's pools) when not 0.
type trafficSlot struct {
	start int64 // Unix nanoseconds; 0 when empty
	data  []byte
	marks []trafficMark // where to start reading for an id
	// pools are the totals of the pools answered from by an instance other
	// than their owner, by pool id. The others' totals are their owner's.
	pools []poolTotal
}

type trafficMark struct{ id, off uint32 }

type poolTotal struct {
	pool uint32
	n    uint64
}

func (s *trafficSlot) size() int { return len(s.data) + 8*len(s.marks) + 16*len(s.pools) }

// collect reads the counters of every instance of engines, once each
// however many engines share them, and appends what they counted since
// their last reading. h.mu is held.
func (h *trafficHistory) collect(engines []*Engine, tick uint32, pts []trafficPoint) []trafficPoint {
	for _, e := range engines {
		s := e.snap.p.Load()
		if s == nil {
			continue // starting: not compiled yet, and not to be compiled here
		}
		s.names.each(func(_ string, in *instance) {
			ac := in.counts
			if ac == nil || ac.traffic.tick == tick {
				return // counters shared with another engine (a reload), read already
			}
			ac.traffic.tick = tick
			ac.mu.Lock()
			list := ac.list
			ac.mu.Unlock()
			known := ac.traffic.gen == h.gen && ac.traffic.id != 0
			id := ac.traffic.id - 1
			for _, c := range list {
				n := c.n.Load()
				d := n - c.seen
				if d == 0 {
					continue
				}
				c.seen = n
				if !known {
					id = h.instanceID(in.name)
					ac.traffic.gen, ac.traffic.id = h.gen, id+1
					known = true
					for _, o := range list {
						o.ref = 0 // refs of another history
					}
				}
				if c.ref == 0 {
					c.ref = h.refOf(id, c.pool) + 1
				}
				ref := c.ref - 1
				pts = append(pts, trafficPoint{inst: id, ref: ref, pool: h.poolAt(id, ref), n: d})
			}
		})
	}
	return pts
}

// instanceID is name's id, given now if it has none.
func (h *trafficHistory) instanceID(name string) uint32 {
	if id, ok := h.ids[name]; ok {
		return id
	}
	id := uint32(len(h.names))
	name = h.arena.String(name)
	h.ids[name] = id
	h.names = append(h.names, name)
	h.first = append(h.first, 0)
	return id
}

// refOf is pool's place among instance id's pools, added if new.
func (h *trafficHistory) refOf(id uint32, pool string) uint32 {
	pid, ok := h.pids[pool]
	if !ok {
		pid = uint32(len(h.pnames))
		pool = h.arena.String(pool)
		h.pids[pool] = pid
		h.pnames = append(h.pnames, pool)
		h.owner = append(h.owner, id)
	}
	if h.first[id] == 0 {
		h.first[id] = pid + 1
		return 0
	}
	if h.first[id] == pid+1 {
		return 0
	}
	if i := slices.Index(h.more[id], pid); i >= 0 {
		return uint32(i + 1)
	}
	if h.more == nil {
		h.more = map[uint32][]uint32{}
	}
	h.more[id] = append(h.more[id], pid)
	return uint32(len(h.more[id]))
}

// poolAt is the pool id of instance id's ref.
func (h *trafficHistory) poolAt(id, ref uint32) uint32 {
	if ref == 0 {
		return h.first[id] - 1
	}
	return h.more[id][ref-1]
}

// refAt is the ref of pool id pid among instance id's pools, or false.
func (h *trafficHistory) refAt(id, pid uint32) (uint32, bool) {
	if id >= uint32(len(h.first)) {
		return 0, false
	}
	if h.first[id] == pid+1 {
		return 0, true
	}
	if i := slices.Index(h.more[id], pid); i >= 0 {
		return uint32(i + 1), true
	}
	return 0, false
}

// store files pts as minute m (which starts at start, Unix nanoseconds)
// and returns how many bytes the history grew by. h.mu is held.
func (h *trafficHistory) store(m, start int64, pts []trafficPoint) int {
	slices.SortFunc(pts, func(a, b trafficPoint) int {
		if a.inst != b.inst {
			return int(a.inst) - int(b.inst)
		}
		return int(a.ref) - int(b.ref)
	})
	var buf []byte
	var marks []trafficMark
	var shared map[uint32]uint64
	prev, groups := uint32(0), 0
	for i := 0; i < len(pts); {
		p := pts[i]
		if groups%markEvery == 0 {
			marks = append(marks, trafficMark{id: p.inst, off: uint32(len(buf))})
		}
		groups++
		buf = binary.AppendUvarint(buf, uint64(p.inst-prev))
		prev = p.inst
		for i < len(pts) && pts[i].inst == p.inst {
			q := pts[i]
			// Counters of one name in two engines (overlapping zones):
			// one entry.
			for i++; i < len(pts) && pts[i].inst == q.inst && pts[i].ref == q.ref; i++ {
				q.n += pts[i].n
			}
			v := q.n << 2
			if q.ref != 0 {
				v |= 2
			}
			if i == len(pts) || pts[i].inst != q.inst {
				v |= 1
			}
			buf = binary.AppendUvarint(buf, v)
			if q.ref != 0 {
				buf = binary.AppendUvarint(buf, uint64(q.ref))
			}
			if h.owner[q.pool] != q.inst {
				if shared == nil {
					shared = map[uint32]uint64{}
				}
				shared[q.pool] = 0
			}
		}
	}
	var pools []poolTotal
	if shared != nil {
		for _, p := range pts {
			if _, ok := shared[p.pool]; ok {
				shared[p.pool] += p.n
			}
		}
		for pid, n := range shared {
			pools = append(pools, poolTotal{pid, n})
		}
		slices.SortFunc(pools, func(a, b poolTotal) int { return int(a.pool) - int(b.pool) })
	}
	s := &h.slots[m%trafficSlots]
	was := s.size()
	*s = trafficSlot{start: start, data: slices.Clip(buf), marks: slices.Clip(marks), pools: pools}
	if s.start > h.newest {
		h.newest = s.start
	}
	return s.size() - was
}

// find calls fn with every pool ref and count of instance id in s.
func (s *trafficSlot) find(id uint32, fn func(ref uint32, n uint64)) {
	i, _ := slices.BinarySearchFunc(s.marks, id, func(m trafficMark, id uint32) int { return int(m.id) - int(id) })
	if i == len(s.marks) || s.marks[i].id != id {
		i-- // the mark before id
	}
	if i < 0 {
		return
	}
	data := s.data[s.marks[i].off:]
	var cur uint32
	for first := true; len(data) > 0; first = false {
		gap, k := binary.Uvarint(data)
		data = data[k:]
		// Gaps run across marks: the first id read is the mark's.
		if cur += uint32(gap); first {
			cur = s.marks[i].id
		}
		for last := false; !last; {
			v, k := binary.Uvarint(data)
			data = data[k:]
			last = v&1 != 0
			ref := uint64(0)
			if v&2 != 0 {
				ref, k = binary.Uvarint(data)
				data = data[k:]
			}
			if cur == id {
				fn(uint32(ref), v>>2)
			}
		}
		if cur >= id {
			return
		}
	}
}

// minutes calls fn with every minute held that started at or after since,
// oldest first. h.mu is held.
func (h *trafficHistory) minutes(every time.Duration, since time.Time, fn func(*trafficSlot)) {
	if h.newest == 0 {
		return
	}
	last := h.newest / int64(every)
	first := last - trafficSlots + 1
	// Compared as times first: the zero time has no Unix nanoseconds.
	if since.After(time.Unix(0, first*int64(every))) {
		first = (since.UnixNano() + int64(every) - 1) / int64(every)
	}
	for m := first; m <= last; m++ {
		if s := &h.slots[m%trafficSlots]; s.start == m*int64(every) {
			fn(s)
		}
	}
}

// Traffic is the answers of an instance of e's zones per minute, oldest
// first, for every minute recorded that started at or after since (the
// last 24 hours at most; fewer when the history outgrew its budget).
// A minute without answers has Total 0: a minute missing was not
// recorded (no engine of these zones ran).
func (e *Engine) Traffic(instance string, since time.Time) []Minute {
	instance = strings.ToLower(dns.Fqdn(instance))
	if longestZone(e.cfg.Zones, instance) == "" {
		return nil
	}
	h := traffic.history(zonesKey(e.cfg), false)
	if h == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	id, known := h.ids[instance]
	var out []Minute
	h.minutes(traffic.every, since, func(s *trafficSlot) {
		m := Minute{Start: time.Unix(0, s.start)}
		if known {
			s.find(id, func(ref uint32, n uint64) {
				if m.Pools == nil {
					m.Pools = map[string]uint64{}
				}
				m.Pools[h.pnames[h.poolAt(id, ref)]] += n
				m.Total += n
			})
		}
		out = append(out, m)
	})
	return out
}

// TrafficPool is the answers from a pool of e's configuration per minute,
// by every instance that answered from it, as Traffic.
func (e *Engine) TrafficPool(pool string, since time.Time) []Minute {
	h := traffic.history(zonesKey(e.cfg), false)
	if h == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	pid, known := h.pids[pool]
	var owner, ref uint32
	if known {
		owner = h.owner[pid]
		ref, _ = h.refAt(owner, pid)
	}
	var out []Minute
	h.minutes(traffic.every, since, func(s *trafficSlot) {
		m := Minute{Start: time.Unix(0, s.start)}
		if known {
			if i, ok := slices.BinarySearchFunc(s.pools, pid, func(t poolTotal, p uint32) int { return int(t.pool) - int(p) }); ok {
				m.Total = s.pools[i].n
			} else {
				// Only its owner answered from it that minute.
				s.find(owner, func(r uint32, n uint64) {
					if r == ref {
						m.Total += n
					}
				})
			}
			if m.Total > 0 {
				m.Pools = map[string]uint64{pool: m.Total}
			}
		}
		out = append(out, m)
	})
	return out
}
