package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gtm-project/gtm/config"
)

// Result is the outcome of one probe.
type Result struct {
	OK    bool
	Err   error         // why it failed: "http: status 503", "timeout after 2s", ...
	RTT   time.Duration // whole probe, or ping's average round trip
	Start time.Time
	// Lag is how late the probe started: its start minus the time it was
	// due (set by the Scheduler).
	Lag time.Duration

	// Phases, where the protocol has them (zero otherwise).
	Connect   time.Duration
	TLS       time.Duration
	FirstByte time.Duration
}

// Prober checks one host. Every prober is bounded by the context's deadline
// as a whole, whatever the peer does.
type Prober interface {
	Probe(ctx context.Context, host string) Result
}

// NewProber returns the prober for a monitor. domain is the address's domain
// name, if it has one, used as the default Host header and TLS name.
func NewProber(m *config.Monitor, domain string) Prober {
	switch m.Protocol {
	case config.ProtoPing:
		return &Ping{Count: m.Count, MaxLoss: m.MaxLoss}
	case config.ProtoTCP:
		return &TCP{Port: m.Port, TLS: m.TLS, ServerName: m.ServerName, SkipVerify: m.SkipVerify}
	}
	return NewHTTP(m, domain)
}

// Target is one address as health checks see it.
type Target struct {
	Key     Key
	Host    string // what to connect to: an IP address or a domain name
	Monitor *config.Monitor
	Prober  Prober
	// Resolver looks Host up when it is a name; nil means DefaultResolver.
	Resolver *Resolver

	check *Check // the manager's check it belongs to, if any
}

// MaxAddrs bounds the addresses of a name probed at once.
const MaxAddrs = 8

// Run probes the target once, bounded by its monitor's timeout. A target
// given by name is looked up (through the resolver's cache) and each of its
// addresses, up to MaxAddrs, is probed at once; the target passes when any
// address passes, as a client that tries the name's addresses in turn would
// reach it. A failure names the address when the name has several.
func (t *Target) Run(ctx context.Context) Result {
	start := time.Now()
	if p, ok := t.Prober.(*TCP); ok && haveFastConnect && !p.TLS {
		if ip, err := netip.ParseAddr(t.Host); err == nil && ip.Zone() == "" {
			// A plain TCP check of an address is bounded by the poller's
			// deadline: no context timer per probe.
			r := p.connect(ctx, netip.AddrPortFrom(ip, uint16(p.Port)), start, start.Add(t.Monitor.Timeout))
			return t.finish(r, start, ctx.Err())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.Monitor.Timeout)
	defer cancel()
	var r Result
	if _, err := netip.ParseAddr(t.Host); err == nil {
		r = probeOne(ctx, t.Prober, t.Host)
	} else {
		r = t.probeName(ctx)
	}
	return t.finish(r, start, ctx.Err())
}

// finish completes a result: its start, its duration, and a timeout said
// as such. ctxErr is the probe's context's error.
func (t *Target) finish(r Result, start time.Time, ctxErr error) Result {
	r.Start = start
	if r.RTT == 0 {
		r.RTT = time.Since(start)
	}
	if r.Err != nil {
		r.OK = false
		if errors.Is(r.Err, context.DeadlineExceeded) || ctxErr == context.DeadlineExceeded {
			r.Err = timeoutErr(t.Monitor.Timeout)
		}
	}
	return r
}

func probeOne(ctx context.Context, p Prober, host string) Result {
	start := time.Now()
	r := p.Probe(ctx, host)
	if r.RTT == 0 {
		r.RTT = time.Since(start)
	}
	return r
}

func (t *Target) probeName(ctx context.Context) Result {
	res := t.Resolver
	if res == nil {
		res = DefaultResolver
	}
	addrs, err := res.Lookup(ctx, t.Host)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Result{Err: fmt.Errorf("resolve %s: %w", t.Host, err)}
		}
		return Result{Err: fmt.Errorf("resolve %s: %v", t.Host, err)}
	}
	addrs = addrs[:min(len(addrs), MaxAddrs)]
	rs := make([]Result, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i] = probeOne(withDial(ctx, t.Host, a, res), t.Prober, t.Host)
		}()
	}
	wg.Wait()
	best := -1
	for i, r := range rs {
		if r.OK && r.Err == nil && (best < 0 || r.RTT < rs[best].RTT) {
			best = i
		}
	}
	if best >= 0 {
		return rs[best]
	}
	if len(rs) == 1 {
		return rs[0]
	}
	r := rs[0]
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		r.Err = fmt.Errorf("all %d addresses failed, %s: %w", len(rs), addrs[0], r.Err)
	}
	return r
}

// dialPlan tells probers where a name's probe connects: the address the
// target's lookup chose for it, and the resolver for any other name (an
// allowed redirect).
type dialPlan struct {
	name string
	addr netip.Addr
	res  *Resolver
}

type dialKey struct{}

func withDial(ctx context.Context, name string, addr netip.Addr, res *Resolver) context.Context {
	return context.WithValue(ctx, dialKey{}, &dialPlan{name: name, addr: addr, res: res})
}

// dialAddr is the host:port to connect to for host:port: an IP as it is, the
// probed name at the address chosen for this probe, any other name looked up
// through the resolver (never the system's).
func dialAddr(ctx context.Context, host string, port string) (string, error) {
	if _, err := netip.ParseAddr(host); err == nil {
		return net.JoinHostPort(host, port), nil
	}
	plan, _ := ctx.Value(dialKey{}).(*dialPlan)
	res := DefaultResolver
	if plan != nil {
		if strings.EqualFold(strings.TrimSuffix(host, "."), strings.TrimSuffix(plan.name, ".")) {
			return net.JoinHostPort(plan.addr.String(), port), nil
		}
		if plan.res != nil {
			res = plan.res
		}
	}
	addrs, err := res.Lookup(ctx, host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	return net.JoinHostPort(addrs[0].String(), port), nil
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// opError shortens a net error to its cause: "connection refused" rather
// than "dial tcp 127.0.0.1:80: connect: connection refused".
func opError(proto string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
		var se interface{ Unwrap() error }
		if errors.As(err, &se) && se.Unwrap() != nil && !errors.Is(err, context.DeadlineExceeded) {
			err = se.Unwrap()
		}
	}
	return wrapCause(proto, err)
}
