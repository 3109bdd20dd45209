// Command failover measures how long gtm takes to move answers from a failed
// primary to the backup, and back after the primary recovers, through a real
// CoreDNS server with real TCP health checks on loopback.
//
//	go run ./bench/failover [-rounds 5] [-interval 1s] [-fall 2] [-rise 2]
//
// It prints each round and the medians, and exits non-zero when the switch
// away takes longer than interval × fall + 0.5 s (the target).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	_ "github.com/gtm-project/gtm/cmd/coredns/plugins"
)

type input string

func (i input) Body() []byte       { return []byte(i) }
func (i input) Path() string       { return "Corefile" }
func (i input) ServerType() string { return "dns" }

const (
	primaryIP = "127.0.0.51"
	backupIP  = "127.0.0.52"
)

func main() {
	rounds := flag.Int("rounds", 5, "failover/failback rounds")
	interval := flag.Duration("interval", time.Second, "probe interval")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "probe timeout")
	fall := flag.Int("fall", 2, "failures to mark down")
	rise := flag.Int("rise", 2, "passes to mark up")
	every := flag.Duration("query-every", 10*time.Millisecond, "gap between queries")
	flag.Parse()
	clog.Discard()
	if err := run(*rounds, *interval, *timeout, *fall, *rise, *every); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

func run(rounds int, interval, timeout time.Duration, fall, rise int, every time.Duration) error {
	primary, err := net.Listen("tcp", primaryIP+":0")
	if err != nil {
		return err
	}
	port := primary.Addr().(*net.TCPAddr).Port
	backup, err := net.Listen("tcp", fmt.Sprintf("%s:%d", backupIP, port))
	if err != nil {
		return err
	}
	defer backup.Close()
	go serve(backup)
	go serve(primary)

	corefile := fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		monitor check {
			protocol tcp
			port %d
			interval %s
			timeout %s
			fall %d
			rise %d
		}
		pool primary {
			monitor check
			address %s
		}
		pool backup {
			monitor check
			address %s
		}
		instance www {
			primary primary
			secondary backup
		}
	}
}`, port, interval, timeout, fall, rise, primaryIP, backupIP)
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(input(corefile))
	if err != nil {
		return err
	}
	defer func() { inst.Stop(); inst.ShutdownCallbacks() }()
	server := inst.Servers()[0].LocalAddr().String()

	target := interval*time.Duration(fall) + 500*time.Millisecond
	limit := 4*target + 5*time.Second
	fmt.Printf("interval %s, timeout %s, fall %d, rise %d; queries every %s; target for the switch away: %s\n",
		interval, timeout, fall, rise, every, target)
	// Warm start: let the first round of probes and a rise's worth pass.
	if _, err := waitAnswer(server, primaryIP, every, limit); err != nil {
		return err
	}
	time.Sleep(interval * time.Duration(rise+1))

	var away, back []time.Duration
	for r := 1; r <= rounds; r++ {
		primary.Close()
		d, err := waitAnswer(server, backupIP, every, limit)
		if err != nil {
			return fmt.Errorf("round %d, switch away: %w", r, err)
		}
		away = append(away, d)
		if primary, err = listenRetry(fmt.Sprintf("%s:%d", primaryIP, port)); err != nil {
			return err
		}
		go serve(primary)
		d2, err := waitAnswer(server, primaryIP, every, limit)
		if err != nil {
			return fmt.Errorf("round %d, switch back: %w", r, err)
		}
		back = append(back, d2)
		fmt.Printf("round %d: away %7.3fs   back %7.3fs\n", r, d.Seconds(), d2.Seconds())
		// Settle, and vary where the next kill falls in the probe cycle.
		time.Sleep(interval*time.Duration(rise) + interval/time.Duration(rounds+1)*time.Duration(r))
	}
	primary.Close()
	ma, mb := median(away), median(back)
	fmt.Printf("median: away %.3fs (max %.3fs), back %.3fs (max %.3fs)\n", ma.Seconds(), slices.Max(away).Seconds(), mb.Seconds(), slices.Max(back).Seconds())
	if mx := slices.Max(away); mx > target {
		return fmt.Errorf("switch away took %s, above the %s target", mx, target)
	}
	fmt.Printf("PASS: every switch away within %s\n", target)
	return nil
}

func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, err
}

// waitAnswer queries until www answers want alone, and returns how long that
// took.
func waitAnswer(server, want string, every, limit time.Duration) (time.Duration, error) {
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	start := time.Now()
	for time.Since(start) < limit {
		r, _, err := c.Exchange(m, server)
		if err == nil && len(r.Answer) == 1 {
			if a, ok := r.Answer[0].(*dns.A); ok && a.A.String() == want {
				return time.Since(start), nil
			}
		}
		time.Sleep(every)
	}
	return 0, fmt.Errorf("no answer %s within %s", want, limit)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
