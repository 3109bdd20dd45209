package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
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
}

// Run probes the target once, bounded by its monitor's timeout.
func (t *Target) Run(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, t.Monitor.Timeout)
	defer cancel()
	start := time.Now()
	r := t.Prober.Probe(ctx, t.Host)
	r.Start = start
	if r.RTT == 0 {
		r.RTT = time.Since(start)
	}
	if r.Err != nil {
		r.OK = false
		if errors.Is(r.Err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
			r.Err = fmt.Errorf("timeout after %s", t.Monitor.Timeout)
		}
	}
	return r
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
	return fmt.Errorf("%s: %w", proto, err)
}
