package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// TestAPIKill kills a real CoreDNS process with kill -9 while a writer
// makes control API writes as fast as it can, restarts it on the same
// store each time, and checks after every restart that nothing the writer
// was told is committed has gone: the process starts (the store opens),
// the last acknowledged revision is in history with exactly what was
// written, the current state is one the writer wrote whole (a rollback,
// which replaces several pools and the overrides at once, is all there or
// not at all), and the DNS answers are those of the API's current state.
//
// The writer keeps a model: the state it expects at each revision it was
// acknowledged. A write whose answer the kill cut off may or may not have
// been committed; if it was, it must be the next revision, whole.
//
// Each kill lands 20-300 ms after the writer starts on a restarted server
// that answered the checks. At least 50 kills, up to 200 while the test
// (build included) is under 70 s; 50 with -short.
func TestAPIKill(t *testing.T) {
	const (
		minKills  = 50
		softLimit = 70 * time.Second // no new kill after this (from the build on) once minKills are done
		hardLimit = 110 * time.Second
	)
	maxKills := 200
	if testing.Short() {
		maxKills = minKills
	}
	began := time.Now()
	dir := t.TempDir()
	bin := buildCoreDNS(t, dir)
	live := listen(t, "127.0.0.1:0").port() // the probed backend of 127.0.0.1, accepting
	p := &killProc{
		t: t, bin: bin,
		dnsAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		apiBase:  fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		readyURL: fmt.Sprintf("http://127.0.0.1:%d/ready", freePort(t)),
		conf:     filepath.Join(dir, "Corefile"),
		logPath:  filepath.Join(dir, "coredns.log"),
	}
	store := filepath.Join(dir, "gtm.db")
	if err := os.WriteFile(p.conf, []byte(killCorefile(p, store, live)), 0o644); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	p.start()
	t.Cleanup(p.kill)
	w := &killWriter{base: p.apiBase, rng: rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, seed)), model: map[uint64]killState{}}
	w.client = newKillClient()
	if err := w.setup(); err != nil {
		t.Fatalf("setup: %v\nserver log: %s", err, p.logTail())
	}
	// The pool base was created just now: its addresses answer once
	// probed (127.0.0.2 is then down).
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = p.check(w); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after setup: %v", err)
	}
	p.staleReady, p.staleExample = 0, "" // counted after restarts only
	built := time.Since(began)

	var (
		kills, adopted, dropped int
		inFlight                = map[string][2]int{} // by op: committed, not committed
		slowestStart            time.Duration
	)
	for kills < maxKills && (kills < minKills || time.Since(began) < softLimit) {
		if time.Since(began) > hardLimit {
			t.Fatalf("only %d kills in %s (want %d)", kills, hardLimit, minKills)
		}
		if err := p.check(w); err != nil {
			t.Fatalf("after %d kills (revision %d acknowledged): %v\nserver log: %s", kills, w.acked, err, p.logTail())
		}
		// Write as fast as possible; kill at a random moment 20-300 ms in.
		var killed atomic.Bool
		done := make(chan error, 1)
		w.client = newKillClient()
		go func() { done <- w.run(&killed) }()
		delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
		select {
		case err := <-done:
			t.Fatalf("kill %d: the writer stopped before the kill: %v", kills+1, err)
		case <-time.After(delay):
		}
		killed.Store(true)
		p.kill()
		kills++
		if err := <-done; err != nil {
			t.Fatalf("kill %d: %v", kills, err)
		}
		w.client.CloseIdleConnections()

		took := p.start()
		slowestStart = max(slowestStart, took)
		// Was the write the kill cut off committed? Then it must be the
		// next revision, whole; otherwise the acknowledged one is current.
		w.client = newKillClient()
		cur, err := w.currentRev()
		if err != nil {
			t.Fatalf("after kill %d: %v", kills, err)
		}
		switch {
		case cur < w.acked:
			t.Fatalf("after kill %d: LOSS: the current revision is %d, but %d was acknowledged", kills, cur, w.acked)
		case cur == w.acked:
			if w.pending != nil {
				dropped++
				f := inFlight[w.pending.op]
				f[1]++
				inFlight[w.pending.op] = f
			}
		case cur == w.acked+1 && w.pending != nil:
			got, err := w.revision(cur)
			if err != nil {
				t.Fatalf("after kill %d: the unacknowledged revision %d: %v", kills, cur, err)
			}
			if got != w.pending.state {
				t.Fatalf("after kill %d: revision %d (the %s the kill cut off) is not whole:\n got %+v\nwant %+v", kills, cur, w.pending.op, got, w.pending.state)
			}
			w.acked, w.model[cur] = cur, got
			adopted++
			f := inFlight[w.pending.op]
			f[0]++
			inFlight[w.pending.op] = f
		default:
			t.Fatalf("after kill %d: the current revision is %d, but %d was acknowledged and %v was in flight", kills, cur, w.acked, w.pending != nil)
		}
		w.pending = nil
	}
	if err := p.check(w); err != nil {
		t.Fatalf("after the last kill: %v", err)
	}
	ops := make([]string, 0, len(w.byOp))
	for op, n := range w.byOp {
		ops = append(ops, fmt.Sprintf("%s %d", op, n))
	}
	slices.Sort(ops)
	var flights []string
	for op, f := range inFlight {
		flights = append(flights, fmt.Sprintf("%s %d/%d", op, f[0], f[0]+f[1]))
	}
	slices.Sort(flights)
	t.Logf("%d kills, %d restarts (slowest start to ready %s); %d writes acknowledged (%s), none lost; "+
		"of the %d writes in flight at a kill, %d were committed (whole, and checked) and %d were not (committed/in flight: %s); current revision %d",
		kills, p.starts-1, slowestStart.Round(time.Millisecond), w.total, strings.Join(ops, ", "),
		adopted+dropped, adopted, dropped, strings.Join(flights, ", "), w.acked)
	t.Logf("readiness: %d starts caught CoreDNS's ready plugin answering before it listed gtm; after %d starts the first answer did not reflect the first probes yet (%s)",
		p.raceReady, p.staleReady, p.staleExample)
	// Ready follows the published snapshot (no pool compiled without its
	// verdicts): the answers after it must reflect the probes.
	if p.staleReady > 0 {
		t.Errorf("ready was early: %d starts before the answers reflected the probes (%s)", p.staleReady, p.staleExample)
	}
	t.Logf("build and setup %s, total %s", built.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if w.total < kills {
		t.Errorf("only %d writes acknowledged over %d kills: the writer hardly ran", w.total, kills)
	}
}

// buildCoreDNS builds cmd/coredns into dir.
func buildCoreDNS(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "coredns")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/gtm-project/gtm/cmd/coredns").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/coredns: %v\n%s", err, out)
	}
	return bin
}

func killCorefile(p *killProc, store string, live int) string {
	host, port, _ := strings.Cut(p.dnsAddr, ":")
	ready := strings.TrimSuffix(strings.TrimPrefix(p.readyURL, "http://"), "/ready")
	return fmt.Sprintf(`example.org:%s {
	bind %s
	ready %s
	gtm {
		ns ns1.example.org 127.0.0.53
		api %s {
			store %s
		}
		monitor tcp-live {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
			rise 1
			fall 1
		}
	}
}
`, port, host, ready, strings.TrimPrefix(p.apiBase, "http://"), store, live)
}

// killProc is the CoreDNS process under test, started again after each kill.
type killProc struct {
	t                          *testing.T
	bin, conf, logPath         string
	wrap                       []string // a command the server runs under (ip netns exec NAME)
	dnsAddr, apiBase, readyURL string
	cmd                        *exec.Cmd
	exited                     chan struct{}
	starts                     int
	raceReady                  int    // starts whose ready said 200 before the ready plugin listed gtm
	staleReady                 int    // checks whose first answer did not reflect the probes yet
	staleExample               string // the first of them
}

// start starts the process and waits until its API and its DNS server
// answer and it is ready (every probed address has a verdict); it returns
// how long it took until ready first said so.
func (p *killProc) start() time.Duration {
	t := p.t
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p.starts++
	fmt.Fprintf(logf, "=== start %d\n", p.starts)
	began := time.Now()
	args := append(slices.Clip(p.wrap), p.bin, "-conf", p.conf, "-quiet")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(p.exited)
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	wait := func(what string, ok func() bool) {
		for !ok() {
			select {
			case <-p.exited:
				t.Fatalf("start %d: CoreDNS exited (%v) before %s\nserver log: %s", p.starts, cmd.ProcessState, what, p.logTail())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("start %d: not %s within 20 s\nserver log: %s", p.starts, what, p.logTail())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	status := func(url string) int {
		resp, err := c.Get(url)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wait("ready", func() bool { return status(p.readyURL) == http.StatusOK })
	ready := time.Since(began)
	// CoreDNS's ready plugin starts serving in one OnStartup and lists the
	// plugins to ask in a later one (plugin/ready/setup.go): in between,
	// with nothing to ask, it says 200. Once DNS answers, every OnStartup
	// is done and ready means what it says; since ready never asks a plugin
	// again once it said yes, a later "not ready" can only be that window
	// (counted in raceReady), never gtm's Ready saying yes too early, which
	// check catches instead through the answers (staleReady).
	wait("serving the API", func() bool {
		c := status(p.apiBase + "/api/v1/zones")
		return c == http.StatusOK || c == http.StatusUnauthorized // answering, with or without tokens
	})
	wait("answering DNS", func() bool {
		m := new(dns.Msg)
		m.SetQuestion("example.org.", dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(m, p.dnsAddr)
		return err == nil && r.Rcode == dns.RcodeSuccess
	})
	// Only an answer counts: a request that timed out on a loaded machine
	// (status 0) says nothing of readiness, and is asked again.
	code := status(p.readyURL)
	for try := 0; code == 0 && try < 5; try++ {
		code = status(p.readyURL)
	}
	if code != http.StatusOK {
		p.raceReady++
		wait("ready again", func() bool { return status(p.readyURL) == http.StatusOK })
	}
	return ready
}

// kill sends SIGKILL and waits until the process is gone.
func (p *killProc) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

func (p *killProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b[max(0, len(b)-3000):])
}

// check compares the API's current state with the writer's model of the
// revision it was last acknowledged, reads that revision from history, and
// compares the DNS answers with the API's current state. The unprobed
// pools must answer so at once. The probed pool base may answer an address
// whose first probe the answers do not reflect yet (gtm's ready says yes
// before they do, see staleReady): it is given a second to settle, and the
// starts where it needed it are counted.
func (p *killProc) check(w *killWriter) error {
	want := w.model[w.acked]
	got, rev, err := w.current()
	if err != nil {
		return err
	}
	if rev != w.acked {
		return fmt.Errorf("the API answers from revision %d, want %d", rev, w.acked)
	}
	if got != want {
		return fmt.Errorf("the current state is not what revision %d holds:\n got %+v\nwant %+v", rev, got, want)
	}
	hist, err := w.revision(w.acked)
	if err != nil {
		return fmt.Errorf("history of the acknowledged revision %d: %v", w.acked, err)
	}
	if hist != want {
		return fmt.Errorf("history's revision %d is not what was written:\n got %+v\nwant %+v", w.acked, hist, want)
	}
	for name, want := range got.answers() {
		settle := time.Time{}
		if name == "base.example.org." {
			settle = time.Now().Add(time.Second)
		}
		for n := 0; ; n++ {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, p.dnsAddr)
			if err != nil {
				return fmt.Errorf("DNS %s: %v", name, err)
			}
			v := testkit.Values(r)
			if slices.Equal(v, want) {
				break
			}
			if n == 0 && !settle.IsZero() {
				p.staleReady++
				if p.staleExample == "" {
					p.staleExample = fmt.Sprintf("start %d: %s answered %v, want %v", p.starts, name, v, want)
				}
			}
			if time.Now().After(settle) {
				return fmt.Errorf("DNS %s answers %v, but the API's state %+v (revision %d) gives %v", name, v, got, rev, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// The state the writer changes: pools p0-p3, each two addresses that
// carry a counter; the address modes of the probed pool 'base' (127.0.0.1
// is live, 127.0.0.2 is not); the pin of instance base.example.org, whose
// secondary is the pool 'spare' (127.0.0.9).
const killPools = 4

type killState struct {
	Counters [killPools]uint32
	Modes    [2]string // of 127.0.0.1 and 127.0.0.2: "", "force" or "drain"
	Pin      string    // "", "primary" or "secondary"
}

var killBase = [2]string{"127.0.0.1", "127.0.0.2"}

// killAddrs are pool i's addresses for counter c (c < 2^19): the counter
// is in both, so a pool written half would show.
func killAddrs(i int, c uint32) []string {
	return []string{
		fmt.Sprintf("127.%d.%d.%d", 100+8*i+int(c>>16), c>>8&255, c&255),
		fmt.Sprintf("127.%d.%d.%d", 200+8*i+int(c>>16), c>>8&255, c&255),
	}
}

// up reports whether base's address a is answered: 127.0.0.1 is live and
// 127.0.0.2 is not, unless a mode overrides it.
func (s killState) up(a int) bool {
	return s.Modes[a] == "force" || (a == 0 && s.Modes[a] != "drain")
}

// valid rules out the state whose answer the test does not predict: the
// instance pinned to a primary with no address up.
func (s killState) valid() bool { return s.Pin != "primary" || s.up(0) || s.up(1) }

// answers are the A answers the state gives, by name.
func (s killState) answers() map[string][]string {
	out := map[string][]string{}
	for i, c := range s.Counters {
		out[fmt.Sprintf("p%d.example.org.", i)] = killAddrs(i, c)
	}
	var base []string
	for a := range killBase {
		if s.up(a) {
			base = append(base, killBase[a])
		}
	}
	if s.Pin == "secondary" || len(base) == 0 {
		base = []string{"127.0.0.9"}
	}
	out["base.example.org."] = base
	return out
}

type killPool struct {
	Name      string `json:"name"`
	Monitor   string `json:"monitor,omitempty"`
	Addresses []struct {
		Address string `json:"address"`
	} `json:"addresses"`
}

type killOverrides struct {
	Addresses []struct{ Pool, Address, Mode string }
	Pins      []struct{ Instance, Rule, Switch string }
}

// stateOf reads a state from the API's pools and overrides, and refuses
// anything the writer never wrote: an unknown pool, a pool whose addresses
// do not carry one counter, a second override of one thing.
func stateOf(pools []killPool, o killOverrides) (killState, error) {
	var s killState
	seen := map[string]bool{}
	for _, p := range pools {
		if seen[p.Name] {
			return s, fmt.Errorf("pool %s is there twice", p.Name)
		}
		seen[p.Name] = true
		var addrs []string
		for _, a := range p.Addresses {
			addrs = append(addrs, a.Address)
		}
		switch p.Name {
		case "base":
			if !slices.Equal(addrs, killBase[:]) || p.Monitor != "tcp-live" {
				return s, fmt.Errorf("pool base is %v monitor %q", addrs, p.Monitor)
			}
			continue
		case "spare":
			if !slices.Equal(addrs, []string{"127.0.0.9"}) {
				return s, fmt.Errorf("pool spare is %v", addrs)
			}
			continue
		}
		var i int
		if _, err := fmt.Sscanf(p.Name, "p%d", &i); err != nil || i < 0 || i >= killPools || len(addrs) != 2 {
			return s, fmt.Errorf("pool %s %v was never written", p.Name, addrs)
		}
		var o2, o3, o4 uint32
		if _, err := fmt.Sscanf(addrs[0], "127.%d.%d.%d", &o2, &o3, &o4); err != nil || o2 < uint32(100+8*i) {
			return s, fmt.Errorf("pool %s %v was never written", p.Name, addrs)
		}
		c := (o2-uint32(100+8*i))<<16 | o3<<8 | o4
		if !slices.Equal(addrs, killAddrs(i, c)) {
			return s, fmt.Errorf("pool %s is not whole: %v (counter %d would be %v)", p.Name, addrs, c, killAddrs(i, c))
		}
		s.Counters[i] = c
	}
	for _, name := range []string{"base", "spare", "p0", "p1", "p2", "p3"} {
		if !seen[name] {
			return s, fmt.Errorf("pool %s is missing", name)
		}
	}
	for _, a := range o.Addresses {
		i := slices.Index(killBase[:], a.Address)
		if a.Pool != "base" || i < 0 || s.Modes[i] != "" || (a.Mode != "force" && a.Mode != "drain") {
			return s, fmt.Errorf("override %+v was never written", a)
		}
		s.Modes[i] = a.Mode
	}
	for _, p := range o.Pins {
		if p.Instance != "base.example.org." || p.Rule != "" || s.Pin != "" || (p.Switch != "primary" && p.Switch != "secondary") {
			return s, fmt.Errorf("pin %+v was never written", p)
		}
		s.Pin = p.Switch
	}
	return s, nil
}

// killWriter makes the writes and keeps the model of what each
// acknowledged revision holds.
type killWriter struct {
	base    string
	client  *http.Client
	rng     *rand.Rand
	model   map[uint64]killState
	acked   uint64 // the last revision acknowledged with a 2xx
	first   uint64 // the first revision with every object (rollbacks go no further back)
	counter uint32
	pending *killPending // the write in flight when the server was killed
	total   int
	byOp    map[string]int
}

type killPending struct {
	op    string
	state killState
}

func newKillClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
}

func (w *killWriter) do(method, path string, body any, ifMatch string) (int, []byte, string, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, "", err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.base+path, r)
	if err != nil {
		return 0, nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", err
	}
	return resp.StatusCode, out, resp.Header.Get("ETag"), nil
}

// get reads path into v and returns its ETag's revision.
func (w *killWriter) get(path string, v any) (uint64, error) {
	code, body, tag, err := w.do("GET", path, nil, "")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return 0, fmt.Errorf("GET %s: %v", path, err)
	}
	return strconv.ParseUint(strings.Trim(tag, `"`), 10, 64)
}

// currentRev is the newest revision in history, which must be the one the
// API answers from.
func (w *killWriter) currentRev() (uint64, error) {
	var h []struct{ Revision uint64 }
	rev, err := w.get("/api/v1/history?limit=1", &h)
	if err != nil {
		return 0, err
	}
	if len(h) != 1 || h[0].Revision != rev {
		return 0, fmt.Errorf("history's newest revision %v is not the ETag's %d", h, rev)
	}
	return rev, nil
}

// current is the state the API answers with, and its revision.
func (w *killWriter) current() (killState, uint64, error) {
	var pools []killPool
	rev, err := w.get("/api/v1/pools", &pools)
	if err != nil {
		return killState{}, 0, err
	}
	var o killOverrides
	orev, err := w.get("/api/v1/overrides", &o)
	if err != nil {
		return killState{}, 0, err
	}
	if orev != rev {
		return killState{}, 0, fmt.Errorf("pools at revision %d, overrides at %d, with no write between", rev, orev)
	}
	s, err := stateOf(pools, o)
	return s, rev, err
}

// revision is what history holds for rev.
func (w *killWriter) revision(rev uint64) (killState, error) {
	var r struct {
		Revision  uint64
		Config    struct{ Pools []killPool }
		Overrides killOverrides
	}
	if _, err := w.get(fmt.Sprintf("/api/v1/history/%d", rev), &r); err != nil {
		return killState{}, err
	}
	if r.Revision != rev {
		return killState{}, fmt.Errorf("history/%d is revision %d", rev, r.Revision)
	}
	return stateOf(r.Config.Pools, r.Overrides)
}

// write makes one write; next is the state it leads to. A 2xx must carry
// the next revision, which the model then holds.
func (w *killWriter) write(op, method, path string, body any, next killState) error {
	w.pending = &killPending{op: op, state: next}
	code, out, tag, err := w.do(method, path, body, `"`+strconv.FormatUint(w.acked, 10)+`"`)
	if err != nil {
		return &transportError{err}
	}
	if code/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", method, path, code, out)
	}
	var res struct{ Revision uint64 }
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("%s %s: %v: %s", method, path, err, out)
	}
	if res.Revision != w.acked+1 || tag != `"`+strconv.FormatUint(res.Revision, 10)+`"` {
		return fmt.Errorf("%s %s: revision %d, ETag %s, after %d", method, path, res.Revision, tag, w.acked)
	}
	w.acked, w.model[res.Revision], w.pending = res.Revision, next, nil
	w.total++
	w.byOp[op]++
	return nil
}

func (w *killWriter) pool(i int, c uint32) map[string]any {
	var addrs []map[string]any
	for _, a := range killAddrs(i, c) {
		addrs = append(addrs, map[string]any{"address": a})
	}
	return map[string]any{"name": fmt.Sprintf("p%d", i), "addresses": addrs}
}

// setup creates the pools and instances, as acknowledged writes.
func (w *killWriter) setup() error {
	w.byOp = map[string]int{}
	w.model[0] = killState{}
	var s killState
	steps := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/pools", map[string]any{"name": "base", "monitor": "tcp-live",
			"addresses": []map[string]any{{"address": killBase[0]}, {"address": killBase[1]}}}},
		{"POST", "/api/v1/pools", map[string]any{"name": "spare", "addresses": []map[string]any{{"address": "127.0.0.9"}}}},
		{"POST", "/api/v1/instances", map[string]any{"name": "base.example.org", "rules": []map[string]any{{"match": "default",
			"primary":   map[string]any{"pools": []map[string]any{{"pool": "base"}}},
			"secondary": map[string]any{"pools": []map[string]any{{"pool": "spare"}}}}}}},
	}
	for i := range killPools {
		w.counter++
		s.Counters[i] = w.counter
		steps = append(steps,
			struct {
				method, path string
				body         any
			}{"POST", "/api/v1/pools", w.pool(i, w.counter)},
			struct {
				method, path string
				body         any
			}{"POST", "/api/v1/instances", map[string]any{"name": fmt.Sprintf("p%d.example.org", i), "rules": []map[string]any{{"match": "default",
				"primary": map[string]any{"pools": []map[string]any{{"pool": fmt.Sprintf("p%d", i)}}}}}}})
	}
	for n, st := range steps {
		if err := w.write("setup", st.method, st.path, st.body, s); err != nil {
			return fmt.Errorf("step %d: %v", n, err)
		}
	}
	// Only the last setup revision holds every object; the others are not
	// states the checks know, and no rollback goes to them.
	for rev := range w.model {
		if rev != w.acked {
			delete(w.model, rev)
		}
	}
	w.first = w.acked
	return nil
}

// run writes until killed: replacing pools (a new counter), setting and
// clearing address modes and the pin, and rolling back to a random earlier
// revision, which replaces every pool and override at once. A request that
// fails without an answer once the kill is under way is the one it cut off.
func (w *killWriter) run(killed *atomic.Bool) error {
	for n := 0; n < 1_000_000 && !killed.Load(); n++ {
		op, method, path, body, next := w.pick()
		err := w.write(op, method, path, body, next)
		var cut *transportError
		if errors.As(err, &cut) && killed.Load() {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s (acknowledged up to revision %d): %v", op, w.acked, err)
		}
	}
	return nil
}

// transportError is a request that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }

// pick chooses the next write and the state it leads to.
func (w *killWriter) pick() (op, method, path string, body any, next killState) {
	for {
		cur := w.model[w.acked]
		next = cur
		switch r := w.rng.IntN(100); {
		case r < 55:
			i := w.rng.IntN(killPools)
			w.counter++
			if w.counter >= 1<<19 {
				panic("counter overflow")
			}
			next.Counters[i] = w.counter
			return "pool", "PUT", fmt.Sprintf("/api/v1/pools/p%d", i), w.pool(i, w.counter), next
		case r < 72:
			a := w.rng.IntN(2)
			path = "/api/v1/overrides/addresses/base/" + killBase[a]
			mode := []string{"force", "drain", "auto", "clear"}[w.rng.IntN(4)]
			switch {
			case mode == "clear" && cur.Modes[a] == "":
				continue // nothing to clear: 404
			case mode == "clear":
				method = "DELETE"
			default:
				method, body = "PUT", map[string]any{"mode": mode, "reason": "kill test"}
			}
			next.Modes[a] = strings.NewReplacer("auto", "", "clear", "").Replace(mode)
			op = "mode"
		case r < 85:
			path = "/api/v1/overrides/pins/base.example.org"
			sw := []string{"primary", "secondary", "auto", "clear"}[w.rng.IntN(4)]
			switch {
			case sw == "clear" && cur.Pin == "":
				continue
			case sw == "clear":
				method = "DELETE"
			default:
				method, body = "PUT", map[string]any{"switch": sw}
			}
			next.Pin = strings.NewReplacer("auto", "", "clear", "").Replace(sw)
			op = "pin"
		default:
			lo := w.first
			if w.acked > 900 && w.acked-900 > lo {
				lo = w.acked - 900 // well inside the 1,000 revisions kept
			}
			target := lo + w.rng.Uint64N(w.acked-lo+1)
			s, ok := w.model[target]
			if !ok {
				continue
			}
			next = s
			op, method, path, body = "rollback", "POST", "/api/v1/rollback", map[string]any{"revision": target}
		}
		if next.valid() {
			return op, method, path, body, next
		}
	}
}
