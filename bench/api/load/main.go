// Command load drives the control API of a real CoreDNS with gtm with many
// concurrent HTTP clients while DNS queries run against the instances the
// API changes, and checks every DNS answer against the revisions that could
// have been current while it was asked. See bench/api/run.sh.
//
//	go run ./bench/api/load -bin COREDNS [-clients 200] [-duration 60s]
//	    [-write-share 0.2] [-dns-workers 8] [-changes 50] [-md FILE]
//
// What runs: CoreDNS (the binary given) on free 127.0.0.1 ports, with the
// API on a bbolt store in a temporary directory, a TCP monitor (interval 1 s,
// timeout 900 ms, fall 3) whose live backends this program serves on
// 127.0.(10+i).{1,3,5,7}; .2 and .4 of each pool refuse. Pools p0-p3 always
// hold .1, .2 and .4 and a changing non-empty subset of .3, .5 and .7; an
// instance iN.load.example answers pool pN (method all).
//
// Each HTTP client loops: with probability write-share a write, else a read.
// Reads: list monitors, pools, instances or overrides, get a pool or an
// instance, list history (limit 20), get a recent revision. Writes (60%):
// GET a pool, then PUT it with If-Match set to the ETag read (412 when
// another write came between), a new subset of .3/.5/.7; or (40%) PUT an
// override of .1 or .2 of a pool to drain, force or auto, without If-Match.
//
// DNS workers ask A questions for the instances over UDP, one in flight
// each. Every answer is checked afterwards: from the writes' revisions,
// start and acknowledgement times, each pool has a chain of versions; a
// version may answer from its write's start until the next version's
// acknowledgement; an answer is correct when it equals exactly (method all)
// the usable addresses of a version that could answer during the query.
//
// Config change to answer: a pool 'lag' (no monitor, one address) and an
// instance lag.load.example; the address is replaced -changes times during
// the load and -changes times after it, and the time from the PUT's start to
// the first DNS answer with the new address is recorded (queries back to
// back from one client).
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

const pools = 4

func main() {
	bin := flag.String("bin", "", "the gtm CoreDNS binary (go build -o BIN ./cmd/coredns)")
	clients := flag.Int("clients", 200, "concurrent HTTP clients")
	duration := flag.Duration("duration", 60*time.Second, "how long the load runs")
	writeShare := flag.Float64("write-share", 0.2, "share of a client's operations that are writes")
	dnsWorkers := flag.Int("dns-workers", 8, "DNS query loops (one query in flight each)")
	changes := flag.Int("changes", 50, "config-change-to-answer measurements, during the load and again after it")
	md := flag.String("md", "", "also write the results as markdown to this file")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "load: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *clients, *duration, *writeShare, *dnsWorkers, *changes, *md); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// addr is candidate n (1-8) of pool i.
func addr(i, n int) string { return fmt.Sprintf("127.0.%d.%d", 10+i, n) }

var (
	live  = []int{1, 3, 5, 7} // served by this program
	fixed = []int{1, 2, 4}    // in every version of a pool
	vary  = []int{3, 5, 7}    // a non-empty subset of these
)

func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// backends listens on every live address on one port and accepts.
func backends() (int, func(), error) {
	for range 20 {
		first, err := net.Listen("tcp", addr(0, 1)+":0")
		if err != nil {
			return 0, nil, err
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for i := range pools {
			for _, n := range live {
				if i == 0 && n == 1 {
					continue
				}
				ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr(i, n), port))
				if err != nil {
					break
				}
				lns = append(lns, ln)
			}
		}
		if len(lns) != pools*len(live) {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		for _, ln := range lns {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		return port, func() {
			for _, ln := range lns {
				ln.Close()
			}
		}, nil
	}
	return 0, nil, errors.New("no port free on every backend address")
}

// server is the CoreDNS process.
type server struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	dns, api string
	log      string
}

func startServer(bin, dir string, livePort int) (*server, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	s := &server{dns: fmt.Sprintf("127.0.0.1:%d", ports[0]), api: fmt.Sprintf("http://127.0.0.1:%d", ports[1]), log: filepath.Join(dir, "coredns.log")}
	corefile := fmt.Sprintf(`load.example:%d {
	bind 127.0.0.1
	ready 127.0.0.1:%d
	gtm {
		ns ns1.load.example 127.0.0.53
		api 127.0.0.1:%d {
			store %s
		}
		monitor tcp-live {
			protocol tcp
			port %d
			interval 1s
			timeout 900ms
			rise 1
			fall 3
		}
	}
}
`, ports[0], ports[2], ports[1], filepath.Join(dir, "gtm.db"), livePort)
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "-conf", conf, "-quiet")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	c := &http.Client{Timeout: time.Second}
	ok := func(url string) bool {
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case <-s.exited:
			b, _ := os.ReadFile(s.log)
			return nil, fmt.Errorf("CoreDNS exited: %s", b)
		default:
		}
		if ok(fmt.Sprintf("http://127.0.0.1:%d/ready", ports[2])) && ok(s.api+"/api/v1/zones") {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("CoreDNS not ready within 30 s")
		}
	}
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// cpu is the process's user+system time.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond // USER_HZ 100
}

func (s *server) peakRSS() string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

// api is an HTTP client of the control API.
type api struct {
	base string
	c    *http.Client
}

func (a *api) do(method, path string, body any, ifMatch string) (int, []byte, string, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, "", err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		return 0, nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header.Get("ETag"), err
}

func revOf(body []byte) uint64 {
	var res struct{ Revision uint64 }
	json.Unmarshal(body, &res)
	return res.Revision
}

func poolBody(i int, subset []int) map[string]any {
	var addrs []map[string]any
	for _, n := range slices.Sorted(slices.Values(append(slices.Clone(fixed), subset...))) {
		addrs = append(addrs, map[string]any{"address": addr(i, n)})
	}
	return map[string]any{"name": fmt.Sprintf("p%d", i), "monitor": "tcp-live", "addresses": addrs}
}

// version is one write to a pool: its revision, when it was sent and
// acknowledged (ns since the start), and what it set.
type version struct {
	rev        uint64
	start, ack int64
	subset     uint16 // a pool write: the bits of .3/.5/.7 (bit n-1)
	addr, mode int    // an override write: 1 or 2, and 0 auto, 1 drain, 2 force
	want       uint16 // the usable addresses after it, filled in by order of rev
}

// sample is one DNS query: when it was sent and answered, to which pool's
// instance, and the addresses answered (bit n-1 for candidate n).
type sample struct {
	q0, q1 int64
	pool   uint8
	got    uint16
	bad    bool // an address not of the pool, or not NOERROR
}

type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
	st map[string]map[string]int // kind -> status -> count
}

func (l *latencies) add(kind string, d time.Duration, status string) {
	l.mu.Lock()
	l.d[kind] = append(l.d[kind], d)
	if l.st[kind] == nil {
		l.st[kind] = map[string]int{}
	}
	l.st[kind][status]++
	l.mu.Unlock()
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func run(bin string, clients int, duration time.Duration, writeShare float64, dnsWorkers, changes int, mdPath string) error {
	dir, err := os.MkdirTemp("", "gtm-apiload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	livePort, closeBackends, err := backends()
	if err != nil {
		return err
	}
	defer closeBackends()
	srv, err := startServer(bin, dir, livePort)
	if err != nil {
		return err
	}
	defer srv.stop()
	tr := &http.Transport{MaxIdleConns: clients + 16, MaxIdleConnsPerHost: clients + 16, IdleConnTimeout: time.Minute}
	a := &api{base: srv.api, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}

	// Setup.
	versions := make([][]version, pools)
	for i := range pools {
		code, out, _, err := a.do("POST", "/api/v1/pools", poolBody(i, []int{3}), "")
		if err != nil || code != 201 {
			return fmt.Errorf("create pool p%d: %d %s %v", i, code, out, err)
		}
		versions[i] = append(versions[i], version{rev: revOf(out), subset: 1 << (3 - 1)}) // current when the load starts
		code, out, _, err = a.do("POST", "/api/v1/instances", map[string]any{"name": fmt.Sprintf("i%d.load.example", i),
			"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": fmt.Sprintf("p%d", i)}}}}}}, "")
		if err != nil || code != 201 {
			return fmt.Errorf("create instance i%d: %d %s %v", i, code, out, err)
		}
	}
	code, out, _, err := a.do("POST", "/api/v1/pools", map[string]any{"name": "lag", "addresses": []map[string]any{{"address": "127.0.99.1"}}}, "")
	if err != nil || code != 201 {
		return fmt.Errorf("create pool lag: %d %s %v", code, out, err)
	}
	code, out, _, err = a.do("POST", "/api/v1/instances", map[string]any{"name": "lag.load.example",
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "lag"}}}}}}, "")
	if err != nil || code != 201 {
		return fmt.Errorf("create instance lag: %d %s %v", code, out, err)
	}
	lastRev := atomic.Uint64{}
	lastRev.Store(revOf(out))
	// Wait for the first probes of the new pools: .1 and .3 answer.
	for i := range pools {
		want := []string{addr(i, 1), addr(i, 3)}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := query(srv.dns, fmt.Sprintf("i%d.load.example.", i))
			if err == nil && slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("i%d answers %v (%v), want %v", i, got, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fmt.Printf("server up: DNS %s, API %s; %d pools probed on %d live backends; load for %s with %d clients, %d DNS workers\n",
		srv.dns, srv.api, pools, pools*len(live), duration, clients, dnsWorkers)

	// Load.
	t0 := time.Now()
	since := func() int64 { return int64(time.Since(t0)) }
	stop := make(chan struct{})
	lat := &latencies{d: map[string][]time.Duration{}, st: map[string]map[string]int{}}
	var vmu sync.Mutex
	var wg sync.WaitGroup
	var unknownWrites atomic.Int64
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if rng.Float64() < writeShare {
					write(a, rng, lat, since, &lastRev, &unknownWrites, func(i int, v version) {
						vmu.Lock()
						versions[i] = append(versions[i], v)
						vmu.Unlock()
					})
				} else {
					read(a, rng, lat, &lastRev)
				}
			}
		}()
	}
	samples := make([][]sample, dnsWorkers)
	var dnsErrs atomic.Int64
	for w := range dnsWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples[w] = dnsLoop(srv.dns, w, stop, since, &dnsErrs)
		}()
	}
	lagLoad := make(chan lagResult, 1)
	go func() {
		lagLoad <- measureLag(a, srv.dns, changes, duration/time.Duration(4*changes), "127.0.99.1", stop)
	}()
	cpu0 := srv.cpu()
	time.Sleep(duration)
	close(stop)
	elapsed := time.Since(t0)
	cpu := srv.cpu() - cpu0
	wg.Wait()
	underLoad := <-lagLoad
	idle := measureLag(a, srv.dns, changes, 20*time.Millisecond, underLoad.last, nil)

	// Check the DNS answers against the versions.
	var total, incorrect, bad int
	var examples []string
	for i := range pools {
		vs := versions[i]
		slices.SortFunc(vs, func(x, y version) int { return cmp.Compare(x.rev, y.rev) })
		var sub uint16
		var modes [3]int
		for k := range vs {
			if vs[k].addr == 0 {
				sub = vs[k].subset
			} else {
				modes[vs[k].addr] = vs[k].mode
			}
			w := sub
			if modes[1] != 1 {
				w |= 1 << 0
			}
			if modes[2] == 2 {
				w |= 1 << 1
			}
			vs[k].want = w
		}
		// A version may answer from its start until the next one's
		// acknowledgement.
		end := make([]int64, len(vs))
		var longest int64
		for k := range vs {
			end[k] = 1 << 62
			if k+1 < len(vs) {
				end[k] = vs[k+1].ack
			}
			longest = max(longest, end[k]-vs[k].start)
		}
		order := make([]int, len(vs)) // by start
		for k := range order {
			order[k] = k
		}
		slices.SortFunc(order, func(x, y int) int { return cmp.Compare(vs[x].start, vs[y].start) })
		for _, ws := range samples {
			for _, s := range ws {
				if int(s.pool) != i {
					continue
				}
				total++
				if s.bad {
					bad++
					continue
				}
				// The versions started by q1, back to the first that
				// could still have lasted until q0.
				hi, _ := slices.BinarySearchFunc(order, s.q1+1, func(k int, t int64) int { return cmp.Compare(vs[k].start, t) })
				ok := false
				for j := hi - 1; j >= 0 && !ok && vs[order[j]].start >= s.q0-longest; j-- {
					k := order[j]
					ok = end[k] >= s.q0 && vs[k].want == s.got
				}
				if !ok {
					incorrect++
					if len(examples) < 5 {
						examples = append(examples, fmt.Sprintf("i%d at %.3fs-%.3fs answered %09b", i, float64(s.q0)/1e9, float64(s.q1)/1e9, s.got))
					}
				}
			}
		}
	}

	// Health: a live backend marked down would change answers.
	logb, _ := os.ReadFile(srv.log)
	var flaps int
	for _, l := range strings.Split(string(logb), "\n") {
		if strings.Contains(l, "healthy -> unhealthy") {
			flaps++
		}
	}
	peak := srv.peakRSS()

	// Report.
	reads, writesOK, writes412 := lat.d["read"], lat.d["write 2xx"], lat.d["write 412"]
	var nReq int
	for _, d := range lat.d {
		nReq += len(d)
	}
	statuses := map[string]int{}
	for kind, m := range lat.st {
		for st, n := range m {
			statuses[kind+" "+st] += n
		}
	}
	var errs []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range statuses {
			if !yield(k) {
				return
			}
		}
	}) {
		if !strings.HasSuffix(k, " 200") && !strings.HasSuffix(k, " 2xx 200") {
			errs = append(errs, fmt.Sprintf("%s: %d", k, statuses[k]))
		}
	}
	secs := elapsed.Seconds()
	lines := []string{
		"| measure | value |",
		"|---|---|",
		fmt.Sprintf("| HTTP requests/s (all) | %.0f (%d in %.1f s) |", float64(nReq)/secs, nReq, secs),
		fmt.Sprintf("| reads/s, p50, p99 | %.0f, %s, %s |", float64(len(reads))/secs, ms(pct(reads, 0.5)), ms(pct(reads, 0.99))),
		fmt.Sprintf("| writes acknowledged/s, p50, p99 | %.0f, %s, %s |", float64(len(writesOK))/secs, ms(pct(writesOK, 0.5)), ms(pct(writesOK, 0.99))),
		fmt.Sprintf("| writes refused 412/s, p50, p99 | %.0f, %s, %s |", float64(len(writes412))/secs, ms(pct(writes412, 0.5)), ms(pct(writes412, 0.99))),
		fmt.Sprintf("| responses other than 200 | %s |", strings.Join(errs, "; ")),
		fmt.Sprintf("| writes with no answer (outcome unknown) | %d |", unknownWrites.Load()),
		fmt.Sprintf("| DNS QPS (%d workers, one query in flight each) | %.0f (%d answers) |", dnsWorkers, float64(total)/secs, total),
		fmt.Sprintf("| DNS answers not of a version current during the query | %d |", incorrect),
		fmt.Sprintf("| DNS errors (timeouts, not NOERROR, foreign address) | %d |", int(dnsErrs.Load())+bad),
		fmt.Sprintf("| config change to answer, during the load (%d changes) | median %s, p99 %s, max %s (PUT alone: median %s, p99 %s; %d answered before the PUT's response) |",
			len(underLoad.lag), ms(pct(underLoad.lag, 0.5)), ms(pct(underLoad.lag, 0.99)), ms(pct(underLoad.lag, 1)), ms(pct(underLoad.put, 0.5)), ms(pct(underLoad.put, 0.99)), underLoad.early),
		fmt.Sprintf("| config change to answer, idle (%d changes) | median %s, p99 %s, max %s (PUT alone: median %s, p99 %s; %d answered before the PUT's response) |",
			len(idle.lag), ms(pct(idle.lag, 0.5)), ms(pct(idle.lag, 0.99)), ms(pct(idle.lag, 1)), ms(pct(idle.put, 0.5)), ms(pct(idle.put, 0.99)), idle.early),
		fmt.Sprintf("| lag instance: answers neither the old nor the new address | %d |", underLoad.wrong+idle.wrong),
		fmt.Sprintf("| server CPU during the load | %.2f cores |", cpu.Seconds()/secs),
		fmt.Sprintf("| server peak RSS | %s |", peak),
		fmt.Sprintf("| live backends marked unhealthy | %d |", flaps),
	}
	if underLoad.err != nil || idle.err != nil {
		lines = append(lines, fmt.Sprintf("| config change errors | %v; %v |", underLoad.err, idle.err))
	}
	report := strings.Join(lines, "\n") + "\n"
	if len(examples) > 0 {
		report += "\nincorrect answers (first 5): " + strings.Join(examples, "; ") + "\n"
	}
	fmt.Print("\n" + report)
	if mdPath != "" {
		if err := os.WriteFile(mdPath, []byte(report), 0o644); err != nil {
			return err
		}
	}
	if incorrect > 0 || unknownWrites.Load() > 0 || underLoad.wrong+idle.wrong > 0 {
		return fmt.Errorf("%d incorrect DNS answers, %d writes with no answer, %d wrong lag answers", incorrect, unknownWrites.Load(), underLoad.wrong+idle.wrong)
	}
	return nil
}

var readPaths = []string{"/api/v1/monitors", "/api/v1/pools", "/api/v1/instances", "/api/v1/overrides", "pool", "instance", "/api/v1/history?limit=20", "revision"}

func read(a *api, rng *rand.Rand, lat *latencies, lastRev *atomic.Uint64) {
	path := readPaths[rng.IntN(len(readPaths))]
	switch path {
	case "pool":
		path = fmt.Sprintf("/api/v1/pools/p%d", rng.IntN(pools))
	case "instance":
		path = fmt.Sprintf("/api/v1/instances/i%d.load.example", rng.IntN(pools))
	case "revision":
		last := lastRev.Load()
		lo := uint64(1)
		if last > 900 {
			lo = last - 900
		}
		path = fmt.Sprintf("/api/v1/history/%d", lo+rng.Uint64N(last-lo+1))
	}
	t := time.Now()
	code, _, _, err := a.do("GET", path, nil, "")
	status := strconv.Itoa(code)
	if err != nil {
		status = "no answer"
	}
	lat.add("read", time.Since(t), status)
}

func write(a *api, rng *rand.Rand, lat *latencies, since func() int64, lastRev *atomic.Uint64, unknown *atomic.Int64, record func(int, version)) {
	i := rng.IntN(pools)
	var (
		method, path, ifMatch string
		body                  any
		v                     version
	)
	if rng.IntN(10) < 6 {
		path = fmt.Sprintf("/api/v1/pools/p%d", i)
		t := time.Now()
		code, _, tag, err := a.do("GET", path, nil, "")
		status := strconv.Itoa(code)
		if err != nil {
			status = "no answer"
		}
		lat.add("read", time.Since(t), status)
		if code != 200 {
			return
		}
		var subset []int
		for len(subset) == 0 {
			for _, n := range vary {
				if rng.IntN(2) == 0 {
					subset = append(subset, n)
					v.subset |= 1 << (n - 1)
				}
			}
		}
		method, ifMatch, body = "PUT", tag, poolBody(i, subset)
	} else {
		v.addr, v.mode = 1+rng.IntN(2), rng.IntN(3)
		path = fmt.Sprintf("/api/v1/overrides/addresses/p%d/%s", i, addr(i, v.addr))
		method, body = "PUT", map[string]any{"mode": []string{"auto", "drain", "force"}[v.mode], "reason": "load"}
	}
	t := time.Now()
	v.start = since()
	code, out, _, err := a.do(method, path, body, ifMatch)
	v.ack = since()
	d := time.Since(t)
	switch {
	case err != nil:
		unknown.Add(1)
		lat.add("write", d, "no answer")
	case code/100 == 2:
		v.rev = revOf(out)
		for {
			l := lastRev.Load()
			if v.rev <= l || lastRev.CompareAndSwap(l, v.rev) {
				break
			}
		}
		record(i, v)
		lat.add("write 2xx", d, strconv.Itoa(code))
	case code == http.StatusPreconditionFailed:
		lat.add("write 412", d, "412")
	default:
		lat.add("write", d, strconv.Itoa(code))
	}
}

func query(server, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, server)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

func dnsLoop(server string, w int, stop chan struct{}, since func() int64, errs *atomic.Int64) []sample {
	c := &dns.Client{Timeout: time.Second}
	conn, err := c.Dial(server)
	if err != nil {
		errs.Add(1)
		return nil
	}
	defer conn.Close()
	out := make([]sample, 0, 1<<16)
	names := make([]string, pools)
	for i := range names {
		names[i] = fmt.Sprintf("i%d.load.example.", i)
	}
	for n := w; ; n++ {
		select {
		case <-stop:
			return out
		default:
		}
		i := n % pools
		m := new(dns.Msg)
		m.SetQuestion(names[i], dns.TypeA)
		s := sample{pool: uint8(i), q0: since()}
		r, _, err := c.ExchangeWithConn(m, conn)
		s.q1 = since()
		if err != nil {
			errs.Add(1)
			continue
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			s.bad = true
		}
		prefix := fmt.Sprintf("127.0.%d.", 10+i)
		for _, rr := range r.Answer {
			a, ok := rr.(*dns.A)
			ip := ""
			if ok {
				ip = a.A.String()
			}
			k, err := strconv.Atoi(strings.TrimPrefix(ip, prefix))
			if !ok || !strings.HasPrefix(ip, prefix) || err != nil || k < 1 || k > 8 {
				s.bad = true
				continue
			}
			s.got |= 1 << (k - 1)
		}
		out = append(out, s)
	}
}

type lagResult struct {
	lag, put []time.Duration
	wrong    int
	early    int    // changes answered before their PUT's response arrived
	last     string // the address the pool has at the end
	err      error
}

// measureLag replaces the lag pool's address n times, gap apart, and
// records from each PUT's start until the first answer with the new
// address, asking back to back. With stop, it ends early when stop closes.
func measureLag(a *api, server string, n int, gap time.Duration, old string, stop chan struct{}) lagResult {
	res := lagResult{last: old}
	c := &dns.Client{Timeout: time.Second}
	conn, err := c.Dial(server)
	if err != nil {
		res.err = err
		return res
	}
	defer conn.Close()
	var k0 int
	fmt.Sscanf(old, "127.0.99.%d", &k0)
	for k := 1; k <= n; k++ {
		if stop != nil {
			select {
			case <-stop:
				return res
			case <-time.After(gap):
			}
		} else {
			time.Sleep(gap)
		}
		next := fmt.Sprintf("127.0.99.%d", (k0+k-1)%250+1)
		t := time.Now()
		put := make(chan error, 1)
		go func() {
			code, out, _, err := a.do("PUT", "/api/v1/pools/lag", map[string]any{"name": "lag", "addresses": []map[string]any{{"address": next}}}, "")
			if err == nil && code != 200 {
				err = fmt.Errorf("PUT lag: %d %s", code, out)
			}
			res.put = append(res.put, time.Since(t))
			put <- err
		}()
		seen := false
		for deadline := t.Add(10 * time.Second); time.Now().Before(deadline); {
			m := new(dns.Msg)
			m.SetQuestion("lag.load.example.", dns.TypeA)
			r, _, err := c.ExchangeWithConn(m, conn)
			if err != nil {
				continue
			}
			got := ""
			if len(r.Answer) == 1 {
				if a, ok := r.Answer[0].(*dns.A); ok {
					got = a.A.String()
				}
			}
			if got == next {
				res.lag = append(res.lag, time.Since(t))
				seen = true
				break
			}
			if got != old {
				res.wrong++
			}
		}
		if err := <-put; err != nil && res.err == nil {
			res.err = err
		}
		if seen && res.lag[len(res.lag)-1] <= res.put[len(res.put)-1] {
			res.early++
		}
		if !seen && res.err == nil {
			res.err = fmt.Errorf("%s never answered", next)
		}
		old, res.last = next, next
	}
	return res
}
