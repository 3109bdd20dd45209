// Command scale measures gtm at size: N instances, each with its own pool of
// one address, and M probed addresses (TCP listeners this program runs on
// loopback, spread over 127.1.0.0/16 addresses and ports), probed at a 1 s
// interval. It builds the gtm CoreDNS, starts it, and reports the time to
// load the configuration and become ready, the server's RSS, the CPU it
// spends probing (no queries), and the QPS dnsperf gets while it probes.
//
//	go run ./bench/scale [-instances 10000] [-measure 10s] [-smoke]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	instances := flag.Int("instances", 10000, "instances, pools and probed addresses")
	interval := flag.Duration("interval", time.Second, "probe interval")
	measure := flag.Duration("measure", 10*time.Second, "how long to measure probing CPU and QPS")
	smoke := flag.Bool("smoke", false, "a small, quick run that checks the harness (CI)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the server while it probes (no queries) to this file")
	flag.Parse()
	if *smoke {
		*instances, *measure = 200, 2*time.Second
	}
	if err := run(*instances, *interval, *measure, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

const ports = 100 // listeners per loopback address; one monitor per port

func run(n int, interval, measure time.Duration, profile string) error {
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
	fmt.Printf("%d loopback TCP endpoints on %d addresses × %d ports\n", len(lns), addrs, ports)

	dnsPort, readyPort, pprofPort := freePort(), freePort(), freePort()
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(config(n, interval, portList, dnsPort, readyPort, pprofPort)), 0o644); err != nil {
		return err
	}
	bin := filepath.Join(dir, "coredns")
	build := exec.Command("go", "build", "-o", bin, "./cmd/coredns")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	start := time.Now()
	srv := exec.Command(bin, "-conf", corefile, "-quiet")
	logf, _ := os.Create(filepath.Join(dir, "coredns.log"))
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	server := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	if err := waitAnswer(server, "i0.scale.example.", 60*time.Second); err != nil {
		return err
	}
	loaded := time.Since(start)
	if err := waitReady(readyPort, 120*time.Second); err != nil {
		return err
	}
	ready := time.Since(start)
	rssReady := procKB(srv.Process.Pid, "VmRSS")

	// Probing only.
	time.Sleep(2 * interval)
	c0, t0 := cpuTicks(srv.Process.Pid), time.Now()
	if profile != "" {
		if err := fetch(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pprofPort, int(measure.Seconds())), profile); err != nil {
			return err
		}
	} else {
		time.Sleep(measure)
	}
	c1, t1 := cpuTicks(srv.Process.Pid), time.Now()
	cores := float64(c1-c0) / clockTicks / t1.Sub(t0).Seconds()

	// Queries while probing.
	qps, note := dnsperf(server, n, measure, dir)
	peak := procKB(srv.Process.Pid, "VmHWM")

	fmt.Printf("\n| measure | value |\n|---|---|\n")
	fmt.Printf("| instances / probed addresses | %d / %d |\n", n, n)
	fmt.Printf("| probe interval | %s |\n", interval)
	fmt.Printf("| start to first answer (config loaded) | %.2f s |\n", loaded.Seconds())
	fmt.Printf("| start to ready (first probe round done) | %.2f s |\n", ready.Seconds())
	fmt.Printf("| RSS when ready | %d MB |\n", rssReady/1024)
	fmt.Printf("| CPU while probing, no queries | %.2f cores |\n", cores)
	fmt.Printf("| QPS while probing (dnsperf, %s) | %s |\n", measure, qps)
	fmt.Printf("| peak RSS | %d MB |\n", peak/1024)
	if note != "" {
		fmt.Println(note)
	}
	return nil
}

// listenAll opens `ports` listeners on each of n addresses 127.1.x.y, all
// addresses on the same port numbers (taken free on the first address).
func listenAll(n int) ([]int, []net.Listener, error) {
	var lns []net.Listener
	var portList []int
	for a := 0; a < n; a++ {
		ip := fmt.Sprintf("127.1.%d.%d", a/250, a%250+1)
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
	}
	return portList, lns, nil
}

func config(n int, interval time.Duration, portList []int, dnsPort, readyPort, pprofPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scale.example.:%d {\n bind 127.0.0.1\n ready 127.0.0.1:%d\n pprof 127.0.0.1:%d\n gtm {\n  ns ns1.scale.example 192.0.2.53\n", dnsPort, readyPort, pprofPort)
	for p, port := range portList {
		fmt.Fprintf(&b, "  monitor m%d {\n   protocol tcp\n   port %d\n   interval %s\n   timeout %s\n  }\n", p, port, interval, interval/2)
	}
	for i := 0; i < n; i++ {
		a := i / ports
		fmt.Fprintf(&b, "  pool p%d {\n   monitor m%d\n   address 127.1.%d.%d\n  }\n", i, i%ports, a/250, a%250+1)
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
