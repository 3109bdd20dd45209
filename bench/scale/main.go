// Command scale measures gtm at size: N instances, each with its own pool of
// one address, and N probed addresses (100 addresses × 100 ports, TCP
// monitors), probed at a 1 s interval. It builds the gtm CoreDNS, starts it,
// and reports the time to load the configuration and become ready, the
// server's RSS and the CPU it spends probing (no queries), and with -qps the
// QPS dnsperf gets while it probes.
//
// The endpoints live in two places, each measured with its own server in the
// same run, the cases taking turns (netns, loopback, netns, ...):
//
//   - netns: the addresses are in 198.18.64.0/18 (of the 198.18.0.0/15
//     benchmark range; internal/netns keeps each benchmark's range apart,
//     so that this can run beside bench/probelag), routed over a veth pair into a network namespace
//     this program creates, where that range is local and 100 listeners (one
//     per port, opened from a thread that entered the namespace) accept
//     every address. The server reaches them as it would remote endpoints.
//   - loopback: the same shape on 127.1.0.0/16, listeners in this process;
//     the connecting process also pays for much of the listener's side.
//
// Without IRQ time accounting (most kernels), Linux charges a packet's
// receive processing to whatever runs on the CPU that queued it: for a veth
// or loopback, the sender. So that only the server's side of each handshake
// is charged to it, -split (the default) runs each server on CPU 0 (taskset,
// so GOMAXPROCS 1, at nice -5) and steers, with RPS, the namespace's receive
// to CPU 1 and the server's to CPU 0. -split=false leaves the server
// unpinned and the charge where the kernel puts it.
//
// The server's CPU is utime+stime from /proc over each window; the
// harness's own (the listeners) and the rest of the machine's (/proc/stat
// less both) are reported beside it, since other jobs share the cores: each
// window waits (up to -quiet-wait) for a quiet second first, and busy runs
// are flagged. Probes are counted as the listeners accept them; an address
// the server marks unhealthy meanwhile is counted from its log. The netns
// case needs root and ip (iproute2); without them it is skipped with a
// message (-smoke then exits 0 after the loopback case). The namespace, and
// with it the veth pair and route, is removed on exit, also on failure or
// interrupt (the server is killed first).
//
//	go run ./bench/scale [-instances 10000] [-endpoints netns,loopback] [-runs 3] [-measure 10s] [-split] [-quiet-wait 30s] [-qps] [-cpuprofile prefix] [-smoke]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gtm-project/gtm/internal/netns"
	"github.com/miekg/dns"
)

func main() {
	instances := flag.Int("instances", 10000, "instances, pools and probed addresses")
	interval := flag.Duration("interval", time.Second, "probe interval")
	measure := flag.Duration("measure", 10*time.Second, "how long each run measures probing CPU (and QPS)")
	runs := flag.Int("runs", 3, "runs per endpoint case, each with a fresh server; medians are reported")
	endpoints := flag.String("endpoints", "netns,loopback", "where the endpoints live: netns, loopback or both (comma-separated)")
	qps := flag.Bool("qps", false, "also measure the QPS dnsperf gets while the server probes")
	smoke := flag.Bool("smoke", false, "a small, quick run that checks the harness (CI); skips the netns case without root or ip")
	quiet := flag.Duration("quiet-wait", 30*time.Second, "before each measured window, wait up to this long for other processes to use less than a quarter of a core over a second (then measure anyway)")
	split := flag.Bool("split", true, "pin each server to CPU 0 and steer the namespace's packet receive to CPU 1 (RPS), so that the namespace's side of each handshake is not charged to the server (needs 2 CPUs)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of each case's server while it probes (no queries) to PREFIX-CASE.prof, after the measured runs")
	flag.Parse()
	if *smoke {
		*instances, *measure, *runs, *quiet = 200, 2*time.Second, 1, 0
	}
	var cases []string
	for _, c := range strings.Split(*endpoints, ",") {
		switch c = strings.TrimSpace(c); c {
		case "netns", "loopback":
			cases = append(cases, c)
		default:
			fmt.Fprintf(os.Stderr, "scale: unknown endpoints %q (netns, loopback)\n", c)
			os.Exit(2)
		}
	}
	if slices.Contains(cases, "netns") {
		if missing := prerequisites(); missing != "" {
			fmt.Println("scale: netns case skipped:", missing)
			cases = slices.DeleteFunc(cases, func(c string) bool { return c == "netns" })
			if len(cases) == 0 {
				if *smoke {
					return
				}
				os.Exit(1)
			}
		}
	}
	if most := (1 << (32 - netns.Scale.Net.Bits())) / 256 * 250 * ports; slices.Contains(cases, "netns") && *instances > most {
		fmt.Fprintf(os.Stderr, "scale: at most %d instances\n", most)
		os.Exit(2)
	}
	ns := &farNS{NS: netns.New("gtm-scale", "gsc", netns.Scale)}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		serving.Lock() // and never unlocked: no server starts after this
		if serving.p != nil {
			serving.p.Kill()
			serving.p.Wait()
		}
		ns.remove()
		if serving.dir != "" {
			os.RemoveAll(serving.dir)
		}
		os.Exit(130)
	}()
	if *split && runtime.NumCPU() < 2 {
		fmt.Println("scale: -split needs 2 CPUs; running without")
		*split = false
	}
	if *split {
		if _, err := exec.LookPath("taskset"); err != nil {
			fmt.Println("scale: -split needs taskset (apt-get install util-linux); running without")
			*split = false
		}
	}
	ns.split = *split
	quietWait = *quiet
	err := run(ns, *smoke, cases, *instances, *interval, *measure, *runs, *qps, *profile)
	ns.remove()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// prerequisites says what the netns case is missing, or "".
func prerequisites() string { return netns.Missing("to create a network namespace") }

const ports = 100 // listeners per address; one monitor per port

// farNS holds the far endpoints: a namespace behind a veth pair in which
// all of its range is local.
type farNS struct {
	*netns.NS
	split bool // steer the namespace's receive to CPU 1
}

func (n *farNS) create() error {
	if err := n.Create(); err != nil {
		return err
	}
	if err := n.LocalNet(); err != nil {
		return err
	}
	if n.split {
		// Without IRQ time accounting the kernel charges a packet's
		// receive softirq to whatever runs on the CPU that queued it: the
		// sender, for a veth. Receive Packet Steering queues the
		// namespace's receive on CPU 1, and the server's (the SYN-ACKs:
		// our side of the handshake) on CPU 0, where the server runs.
		err := n.Exec("sh", "-c", "echo 2 > /sys/class/net/"+n.Peer()+"/queues/rx-0/rps_cpus")
		if err == nil {
			if out, e := exec.Command("sh", "-c", "echo 1 > /sys/class/net/"+n.Veth+"/queues/rx-0/rps_cpus").CombinedOutput(); e != nil {
				err = fmt.Errorf("%v: %s", e, bytes.TrimSpace(out))
			}
		}
		if err != nil {
			fmt.Printf("scale: no RPS (%v): the namespace's side of each handshake is charged to the server\n", err)
		}
	}
	return nil
}

// remove deletes the namespace (taking the veth pair and the route with it).
func (n *farNS) remove() {
	if err := n.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
	}
}

// listen opens a listener on each port inside the namespace (on every
// address of its range) and accepts on it.
func (n *farNS) listen(portList []int) ([]net.Listener, error) {
	addrs := make([]string, len(portList))
	for i, p := range portList {
		addrs[i] = fmt.Sprintf("0.0.0.0:%d", p)
	}
	lns, err := n.Listen("tcp4", addrs)
	for _, ln := range lns {
		go acceptLoop(ln, accepted["netns"])
	}
	return lns, err
}

// listenAll opens `ports` listeners on each of n addresses 127.1.x.y, all
// addresses on the same port numbers (taken free on the first address).
func listenAll(n int) ([]int, []net.Listener, error) {
	var lns []net.Listener
	var portList []int
	for a := 0; a < n; a++ {
		ip := addrOf("loopback", a)
		for p := 0; p < ports; p++ {
			addr := ip + ":0"
			if a > 0 {
				addr = fmt.Sprintf("%s:%d", ip, portList[p])
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, lns, err
			}
			if a == 0 {
				portList = append(portList, ln.Addr().(*net.TCPAddr).Port)
			}
			lns = append(lns, ln)
			go acceptLoop(ln, accepted["loopback"])
		}
	}
	return portList, lns, nil
}

// accepted counts the connections each case's listeners accepted.
var accepted = map[string]*atomic.Int64{"netns": {}, "loopback": {}}

func acceptLoop(ln net.Listener, n *atomic.Int64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n.Add(1)
		c.Close()
	}
}

// sample is one measured run of one case.
type sample struct {
	loaded, ready       time.Duration
	rssReady, rssEnd    int64 // KB
	peak                int64 // KB
	cores, self, others float64
	rate                float64 // probes accepted per second
	failed              int     // addresses marked unhealthy in the window
	note                string
	qps                 string
}

// serving is the server running now, killed on interrupt.
var serving struct {
	sync.Mutex
	p   *os.Process
	dir string // the temporary directory, removed on interrupt too
}

func run(ns *farNS, smoke bool, cases []string, n int, interval, measure time.Duration, runs int, qps bool, profile string) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	dir, err := os.MkdirTemp("", "gtm-scale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	serving.Lock()
	serving.dir = dir
	serving.Unlock()

	// Endpoints: ceil(n/ports) addresses × ports listeners.
	addrs := (n + ports - 1) / ports
	portList, lns, err := listenAll(addrs)
	if err != nil {
		return err
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	fmt.Printf("loopback: %d TCP endpoints on %d addresses in 127.1.0.0/16 × %d ports (listeners in this process)\n", len(lns), addrs, ports)
	if slices.Contains(cases, "netns") {
		if err := ns.create(); err != nil {
			if !smoke {
				return err
			}
			// A container may deny namespaces even to root.
			fmt.Println("scale: netns case skipped:", err)
			ns.remove()
			cases = slices.DeleteFunc(cases, func(c string) bool { return c == "netns" })
		}
	}
	if slices.Contains(cases, "netns") {
		nlns, err := ns.listen(portList)
		defer func() {
			for _, ln := range nlns {
				ln.Close()
			}
		}()
		if err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", addrOf("netns", addrs-1), portList[ports-1]), time.Second)
		if err != nil {
			return fmt.Errorf("netns endpoint unreachable: %w", err)
		}
		c.Close()
		fmt.Printf("netns: %d TCP endpoints on %d addresses in %s × %d ports, in namespace %s over veth %s (listeners: this process, from inside the namespace)\n",
			addrs*ports, addrs, ns.Net, ports, ns.Name, ns.Veth)
	}

	bin := filepath.Join(dir, "coredns")
	build := exec.Command("go", "build", "-o", bin, "./cmd/coredns")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	results := map[string][]sample{}
	for r := 0; r < runs; r++ {
		for _, c := range cases {
			s, err := runOnce(ns.split, bin, dir, c, n, interval, measure, portList, qps, "")
			if err != nil {
				if b, _ := os.ReadFile(filepath.Join(dir, "coredns-"+c+".log")); len(b) > 0 {
					fmt.Fprintf(os.Stderr, "server log (last 2 KB):\n%s\n", b[max(0, len(b)-2048):])
				}
				return fmt.Errorf("%s run %d: %w", c, r+1, err)
			}
			fmt.Printf("  run %d %-8s CPU %.3f cores (harness listeners %.3f, other processes %.3f); %.0f probes/s accepted, %d addresses marked unhealthy; RSS ready %d MB, end %d MB; ready %.2f s%s\n",
				r+1, c, s.cores, s.self, s.others, s.rate, s.failed, s.rssReady/1024, s.rssEnd/1024, s.ready.Seconds(), s.note)
			results[c] = append(results[c], s)
		}
	}
	if profile != "" {
		for _, c := range cases {
			path := profile + "-" + c + ".prof"
			if _, err := runOnce(ns.split, bin, dir, c, n, interval, measure, portList, false, path); err != nil {
				return fmt.Errorf("%s profile: %w", c, err)
			}
			fmt.Printf("  profile of the %s case: %s\n", c, path)
		}
	}

	fmt.Printf("\n%d instances / probed addresses, TCP monitors, interval %s, timeout %s; medians of %d runs of %s (range in brackets)\n\n",
		n, interval, interval/2, runs, measure)
	fmt.Printf("| measure |")
	for _, c := range cases {
		fmt.Printf(" %s |", c)
	}
	fmt.Printf("\n|---|")
	for range cases {
		fmt.Printf("---:|")
	}
	fmt.Println()
	row := func(name string, f func(sample) float64, format string) {
		fmt.Printf("| %s |", name)
		for _, c := range cases {
			v := make([]float64, 0, len(results[c]))
			for _, s := range results[c] {
				v = append(v, f(s))
			}
			slices.Sort(v)
			fmt.Printf(" "+format+" ("+format+"–"+format+") |", v[len(v)/2], v[0], v[len(v)-1])
		}
		fmt.Println()
	}
	row("server CPU while probing, no queries (cores)", func(s sample) float64 { return s.cores }, "%.3f")
	row("server CPU per 10,000 probes/s (cores)", func(s sample) float64 { return s.cores * 10000 / max(s.rate, 1) }, "%.3f")
	row("probes per second (accepted by the listeners)", func(s sample) float64 { return s.rate }, "%.0f")
	row("addresses marked unhealthy while measuring", func(s sample) float64 { return float64(s.failed) }, "%.0f")
	row("harness listeners' CPU (cores)", func(s sample) float64 { return s.self }, "%.3f")
	row("other processes' CPU (cores)", func(s sample) float64 { return s.others }, "%.2f")
	row("start to first answer (s)", func(s sample) float64 { return s.loaded.Seconds() }, "%.2f")
	row("start to ready, first probe round done (s)", func(s sample) float64 { return s.ready.Seconds() }, "%.2f")
	row("RSS when ready (MB)", func(s sample) float64 { return float64(s.rssReady) / 1024 }, "%.0f")
	row("RSS after measuring (MB)", func(s sample) float64 { return float64(s.rssEnd) / 1024 }, "%.0f")
	row("peak RSS (MB)", func(s sample) float64 { return float64(s.peak) / 1024 }, "%.0f")
	if qps {
		for _, c := range cases {
			var q []string
			for _, s := range results[c] {
				q = append(q, s.qps)
			}
			fmt.Printf("QPS while probing (%s, dnsperf -c 4 -q 200, %s): %s\n", c, measure, strings.Join(q, ", "))
		}
	}
	return nil
}

// addrOf is the a-th endpoint address of a case.
func addrOf(c string, a int) string {
	if c == "netns" {
		// 250 a /24, as on loopback.
		b := netns.Scale.Net.Addr().As4()
		b[2], b[3] = b[2]+byte(a/250), byte(a%250+1)
		return netip.AddrFrom4(b).String()
	}
	return fmt.Sprintf("127.1.%d.%d", a/250, a%250+1)
}

// runOnce starts a server probing the case's endpoints, waits until it is
// ready and has probed for two intervals, then measures (or profiles) it.
func runOnce(split bool, bin, dir, c string, n int, interval, measure time.Duration, portList []int, qps bool, profile string) (sample, error) {
	var s sample
	dnsPort, readyPort, pprofPort := freePort(), freePort(), freePort()
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(config(c, n, interval, portList, dnsPort, readyPort, pprofPort)), 0o644); err != nil {
		return s, err
	}
	start := time.Now()
	srv := exec.Command(bin, "-conf", corefile, "-quiet")
	if split {
		srv = exec.Command("nice", "-n", "-5", "taskset", "-c", "0", bin, "-conf", corefile, "-quiet")
	}
	logf, _ := os.Create(filepath.Join(dir, "coredns-"+c+".log"))
	defer logf.Close()
	srv.Stdout, srv.Stderr = logf, logf
	serving.Lock()
	if err := srv.Start(); err != nil {
		serving.Unlock()
		return s, err
	}
	serving.p = srv.Process
	serving.Unlock()
	defer func() {
		serving.Lock()
		serving.p = nil
		serving.Unlock()
		srv.Process.Kill()
		srv.Wait()
	}()
	server := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	if err := waitAnswer(server, "i0.scale.example.", 60*time.Second); err != nil {
		return s, err
	}
	s.loaded = time.Since(start)
	if err := waitReady(readyPort, 300*time.Second); err != nil {
		return s, err
	}
	s.ready = time.Since(start)
	s.rssReady = procKB(srv.Process.Pid, "VmRSS")

	// Probing only.
	time.Sleep(2 * interval)
	pid := srv.Process.Pid
	if profile != "" {
		err := fetch(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pprofPort, int(measure.Seconds())), profile)
		return s, err
	}
	waitQuiet(pid)
	// Probes are counted as the listeners accept them (a scrape of the
	// server's metrics for 10,000 pools would cost it CPU, and outlasts its
	// 5 s write timeout on a busy machine), and failures as the addresses
	// the server's log marks unhealthy meanwhile.
	logAt, _ := logf.Seek(0, io.SeekCurrent)
	ok0 := accepted[c].Load()
	c0, h0, a0, t0 := cpuTicks(pid), cpuTicks(os.Getpid()), machineTicks(), time.Now()
	time.Sleep(measure)
	c1, h1, a1, t1 := cpuTicks(pid), cpuTicks(os.Getpid()), machineTicks(), time.Now()
	ok1 := accepted[c].Load()
	secs := t1.Sub(t0).Seconds()
	s.rate = float64(ok1-ok0) / secs
	if b, err := os.ReadFile(logf.Name()); err == nil && int64(len(b)) >= logAt {
		s.failed = bytes.Count(b[logAt:], []byte("healthy -> unhealthy"))
	}
	if want := float64(n) / interval.Seconds(); s.rate < 0.95*want {
		s.note = fmt.Sprintf(" — SHORT: %.0f probes/s, want %.0f: the server did not keep up (CPU starved?)", s.rate, want)
	}
	s.cores = float64(c1-c0) / clockTicks / secs
	s.self = float64(h1-h0) / clockTicks / secs
	s.others = max(0, float64((a1-a0)-(c1-c0)-(h1-h0))/clockTicks/secs)
	if s.others > 0.5 {
		s.note += " — machine busy: other processes used more than half a core"
	}
	s.rssEnd = procKB(pid, "VmRSS")
	if qps {
		var note string
		s.qps, note = dnsperf(server, n, measure, dir)
		if note != "" {
			fmt.Println(note)
		}
	}
	s.peak = procKB(pid, "VmHWM")
	return s, nil
}

// quietWait bounds waitQuiet.
var quietWait time.Duration

// waitQuiet waits, up to quietWait, for a second in which the processes
// other than the server and this program used less than a quarter of a
// core: the 2-core machine is shared with other jobs.
func waitQuiet(pid int) {
	deadline := time.Now().Add(quietWait)
	for time.Now().Before(deadline) {
		c0, h0, a0 := cpuTicks(pid), cpuTicks(os.Getpid()), machineTicks()
		time.Sleep(time.Second)
		c1, h1, a1 := cpuTicks(pid), cpuTicks(os.Getpid()), machineTicks()
		if float64((a1-a0)-(c1-c0)-(h1-h0))/clockTicks < 0.25 {
			return
		}
	}
}

// machineTicks is the busy time of all CPUs (user, nice, system, irq,
// softirq, steal) from /proc/stat, in clock ticks.
func machineTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var t int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += v
		}
	}
	return t
}

func config(c string, n int, interval time.Duration, portList []int, dnsPort, readyPort, pprofPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scale.example.:%d {\n bind 127.0.0.1\n ready 127.0.0.1:%d\n pprof 127.0.0.1:%d\n gtm {\n  ns ns1.scale.example 192.0.2.53\n",
		dnsPort, readyPort, pprofPort)
	for p, port := range portList {
		fmt.Fprintf(&b, "  monitor m%d {\n   protocol tcp\n   port %d\n   interval %s\n   timeout %s\n  }\n", p, port, interval, interval/2)
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  pool p%d {\n   monitor m%d\n   address %s\n  }\n", i, i%ports, addrOf(c, i/ports))
		fmt.Fprintf(&b, "  instance i%d {\n   primary p%d\n  }\n", i, i)
	}
	b.WriteString(" }\n}\n")
	return b.String()
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitAnswer(server, name string, limit time.Duration) error {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if r, _, err := c.Exchange(m, server); err == nil && len(r.Answer) > 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no answer for %s within %s", name, limit)
}

func waitReady(port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	cl := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", port)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s", limit)
}

const clockTicks = 100 // USER_HZ on Linux

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func procKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

var qpsLine = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)

// dnsperf queries every instance name in turn for d.
func dnsperf(server string, n int, d time.Duration, dir string) (string, string) {
	path, err := exec.LookPath("dnsperf")
	if err != nil {
		return "n/a", "dnsperf not installed (apt-get install dnsperf): QPS not measured"
	}
	qf := filepath.Join(dir, "queries")
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "i%d.scale.example. A\n", i)
	}
	os.WriteFile(qf, []byte(b.String()), 0o644)
	host, port, _ := net.SplitHostPort(server)
	out, err := exec.Command(path, "-s", host, "-p", port, "-d", qf, "-l", strconv.Itoa(int(d.Seconds())), "-c", "4", "-q", "200").CombinedOutput()
	if err != nil {
		return "error", fmt.Sprintf("dnsperf: %v\n%s", err, out)
	}
	if m := qpsLine.FindSubmatch(out); m != nil {
		return string(m[1]), ""
	}
	return "?", string(out)
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
