// Command probelag measures how late health-check probes of healthy addresses
// start while thousands of other addresses are black-holed: the scheduler's
// lag (a probe's start minus the time it was due) under a large outage.
//
// The black-holed addresses are in 198.19.0.0/16 (of the 198.18.0.0/15
// benchmark range; internal/netns keeps each benchmark's range apart, so
// that this can run beside bench/scale), routed into a network namespace
// this program creates over a veth pair, where an nft rule drops every
// packet to them: each probe waits out its whole timeout. The healthy addresses are TCP listeners on loopback.
// The scheduler, monitors and probers are gtm's own (health package), with
// TCP monitors. It needs root, ip (iproute2) and nft (nftables); the
// namespace, and with it the veth pair and route, is removed on exit, also on
// failure or interrupt.
//
//	go run ./bench/probelag [-dark 5000] [-healthy 1000] [-interval 1s] [-timeout 3s] [-measure 20s] [-max-concurrent 0] [-smoke]
//
// -max-concurrent 256 bounds the probes in flight as the scheduler's old
// fixed pool of 256 workers did, for the figure before the redesign.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/netns"
)

func main() {
	dark := flag.Int("dark", 5000, "black-holed addresses")
	healthy := flag.Int("healthy", 1000, "healthy addresses (TCP listeners on loopback)")
	interval := flag.Duration("interval", time.Second, "probe interval")
	timeout := flag.Duration("timeout", 3*time.Second, "probe timeout")
	measure := flag.Duration("measure", 20*time.Second, "how long to record lag after the first round")
	maxConc := flag.Int("max-concurrent", 0, "the scheduler's bound on probes in flight (0: the number of targets)")
	smoke := flag.Bool("smoke", false, "a small, quick run that checks the harness (CI); exits 0 without root, ip or nft")
	flag.Parse()
	if *smoke {
		*dark, *healthy, *measure = 50, 20, 3*time.Second
	}
	if missing := prerequisites(); missing != "" {
		if *smoke {
			fmt.Println("probelag: skipped:", missing)
			return
		}
		fmt.Fprintln(os.Stderr, "probelag:", missing)
		os.Exit(1)
	}
	if most := 1<<(32-netns.ProbeLag.Net.Bits()) - 2; *dark > most {
		fmt.Fprintf(os.Stderr, "probelag: at most %d black-holed addresses\n", most)
		os.Exit(2)
	}
	ns := netns.New("gtm-probelag", "gpl", netns.ProbeLag)
	remove := func() {
		if err := ns.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, "probelag:", err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		remove()
		os.Exit(130)
	}()
	err := run(ns, *dark, *healthy, *interval, *timeout, *measure, *maxConc)
	remove()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probelag:", err)
		os.Exit(1)
	}
}

// prerequisites says what is missing to run, or "".
func prerequisites() string {
	return netns.Missing("to create a network namespace and an nft rule", "nft")
}

func run(ns *netns.NS, dark, healthy int, interval, timeout, measure time.Duration, maxConc int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if need := uint64(dark + 3*healthy + 100); lim.Cur < need {
			return fmt.Errorf("open file limit %d is below the %d this run needs", lim.Cur, need)
		}
	}
	// The black hole: a namespace that drops every packet to its range.
	if err := ns.Create(); err != nil {
		return err
	}
	if err := ns.DropNet(); err != nil {
		return err
	}
	darkNet := ns.Net.String()

	// Healthy endpoints: one listener per address, accepting and closing.
	var lns []net.Listener
	var wg sync.WaitGroup
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}()
	for range healthy {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	// Check the black hole before measuring: a connect must time out, not
	// be refused.
	probe := func(port int) *config.Monitor {
		m := config.NewMonitor(config.Pos{File: "probelag"}, "bench")
		m.Protocol, m.Port, m.Interval, m.Timeout = config.ProtoTCP, port, interval, timeout
		return m
	}
	base := ns.Net.Addr()
	darkAddr := func(i int) string {
		b := base.As4()
		b[2], b[3] = byte((i+1)>>8), byte(i+1)
		return netip.AddrFrom4(b).String()
	}
	if c, err := net.DialTimeout("tcp", darkAddr(0)+":80", 300*time.Millisecond); err == nil {
		c.Close()
		return errors.New("a black-holed address answered")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		return fmt.Errorf("a black-holed address did not time out: %v", err)
	}

	var ts []*health.Target
	darkMon := probe(80)
	for i := range dark {
		h := darkAddr(i)
		ts = append(ts, &health.Target{Key: health.Key{Pool: "dark", Address: h}, Host: h, Monitor: darkMon, Prober: health.NewProber(darkMon, "")})
	}
	for i, ln := range lns {
		m := probe(ln.Addr().(*net.TCPAddr).Port)
		ts = append(ts, &health.Target{Key: health.Key{Pool: "up", Address: strconv.Itoa(i)}, Host: "127.0.0.1", Monitor: m, Prober: health.NewProber(m, "")})
	}

	var (
		mu        sync.Mutex
		recording atomic.Bool
		lags      []time.Duration
		darkLags  []time.Duration
		upFailed  atomic.Int64
		darkOK    atomic.Int64
		darkTotal atomic.Int64
	)
	s := &health.Scheduler{MaxConcurrent: maxConc, OnResult: func(t *health.Target, r health.Result) {
		if t.Key.Pool == "dark" {
			if r.OK {
				darkOK.Add(1)
			}
			if recording.Load() {
				darkTotal.Add(1)
				mu.Lock()
				darkLags = append(darkLags, r.Lag)
				mu.Unlock()
			}
			return
		}
		if !r.OK {
			upFailed.Add(1)
		}
		if recording.Load() {
			mu.Lock()
			lags = append(lags, r.Lag)
			mu.Unlock()
		}
	}}
	fmt.Printf("probelag: %d black-holed addresses (%s, dropped in netns %s), %d healthy TCP listeners on 127.0.0.1; interval %s, timeout %s, max-concurrent %d (0: targets)\n",
		dark, darkNet, ns.Name, healthy, interval, timeout, maxConc)
	start := time.Now()
	s.Start(ts)
	defer s.Stop()
	select {
	case <-s.FirstRound():
	case <-time.After(firstRoundWait(len(ts), maxConc, timeout)):
		return errors.New("first round did not complete")
	}
	fmt.Printf("first round complete after %s; recording lag for %s\n", time.Since(start).Round(time.Millisecond), measure)
	recording.Store(true)
	time.Sleep(measure)
	recording.Store(false)
	s.Stop()

	mu.Lock()
	defer mu.Unlock()
	if len(lags) == 0 {
		return errors.New("no probe of a healthy address in the measurement")
	}
	p50, p99, mx := stats(lags)
	fmt.Printf("healthy: %d probes (%.0f/s, want %.0f/s), %d failed; lag p50 %s, p99 %s, max %s\n",
		len(lags), float64(len(lags))/measure.Seconds(), float64(healthy)/interval.Seconds(), upFailed.Load(),
		p50, p99, mx)
	if len(darkLags) > 0 {
		d50, d99, dmx := stats(darkLags)
		fmt.Printf("black-holed: %d probes (%.0f/s), %d passed (want 0); lag p50 %s, p99 %s, max %s (timeout %s exceeds the interval: each waits for its previous probe)\n",
			darkTotal.Load(), float64(darkTotal.Load())/measure.Seconds(), darkOK.Load(), d50, d99, dmx, timeout)
	}
	switch {
	case darkOK.Load() > 0:
		return errors.New("a black-holed address passed: the black hole leaks")
	case upFailed.Load() > 0:
		return errors.New("healthy addresses failed probes")
	case mx >= interval:
		return fmt.Errorf("a healthy address's probe started %s late, not under one interval (%s)", mx, interval)
	}
	fmt.Println("ok: every healthy probe started less than one interval late")
	return nil
}

// firstRoundWait bounds the wait for every target's first result: with a
// bound on probes in flight, the black-holed ones take turns.
func firstRoundWait(targets, maxConc int, timeout time.Duration) time.Duration {
	rounds := 1
	if maxConc > 0 {
		rounds = (targets + maxConc - 1) / maxConc
	}
	return time.Duration(rounds)*timeout + 30*time.Second
}

func stats(d []time.Duration) (p50, p99, mx time.Duration) {
	slices.Sort(d)
	at := func(q float64) time.Duration {
		return d[min(len(d)-1, int(q*float64(len(d))))].Round(10 * time.Microsecond)
	}
	return at(0.50), at(0.99), d[len(d)-1].Round(10 * time.Microsecond)
}
