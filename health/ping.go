package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// Ping sends Count ICMP echo requests and passes when no more than MaxLoss
// percent are lost. It tries an unprivileged ICMP socket first, then a raw
// one; when the machine allows neither, every probe fails saying so.
type Ping struct {
	Count   int
	MaxLoss int
}

// socketKind remembers which socket kind worked, so that later probes do not
// try the refused one again: 0 unknown, 1 unprivileged, 2 raw.
var socketKind atomic.Int32

// ErrNoICMP is the failure when neither socket kind can be opened.
var ErrNoICMP = errors.New("ping: no ICMP socket allowed (unprivileged ICMP is off in net.ipv4.ping_group_range and raw sockets need CAP_NET_RAW)")

// Probe implements Prober.
func (p *Ping) Probe(ctx context.Context, host string) Result {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	var (
		stats *probing.Statistics
		err   error
	)
	switch socketKind.Load() {
	case 1:
		stats, err = p.run(ctx, host, deadline, false)
	case 2:
		stats, err = p.run(ctx, host, deadline, true)
	default:
		if stats, err = p.run(ctx, host, deadline, false); isSocketError(err) {
			if stats, err = p.run(ctx, host, deadline, true); isSocketError(err) {
				return Result{Err: ErrNoICMP}
			} else if err == nil {
				socketKind.Store(2)
			}
		} else if err == nil {
			socketKind.Store(1)
		}
	}
	if err != nil {
		return Result{Err: fmt.Errorf("ping: %w", err)}
	}
	if stats.PacketsSent == 0 {
		return Result{Err: errors.New("ping: no echo request sent")}
	}
	loss := 100 * (stats.PacketsSent - stats.PacketsRecv) / stats.PacketsSent
	if loss > p.MaxLoss {
		if stats.PacketsRecv == 0 && ctx.Err() != nil {
			return Result{Err: ctx.Err()}
		}
		return Result{Err: fmt.Errorf("ping: %d%% loss (%d of %d replies), more than %d%%", loss, stats.PacketsRecv, stats.PacketsSent, p.MaxLoss)}
	}
	return Result{OK: true, RTT: stats.AvgRtt}
}

func (p *Ping) run(ctx context.Context, host string, deadline time.Time, privileged bool) (*probing.Statistics, error) {
	// Resolve under the probe's deadline: pro-bing's own resolution has none.
	addr, err := dialAddr(ctx, host, "0")
	if err != nil {
		return nil, err
	}
	ap := netip.MustParseAddrPort(addr)
	ip := &net.IPAddr{IP: ap.Addr().AsSlice(), Zone: ap.Addr().Zone()}
	left := time.Until(deadline)
	if left <= 0 {
		return nil, context.DeadlineExceeded
	}
	pinger := probing.New("")
	pinger.SetIPAddr(ip)
	pinger.SetPrivileged(privileged)
	pinger.Count = p.Count
	pinger.Interval = 50 * time.Millisecond
	pinger.Timeout = left
	if err := pinger.RunWithContext(ctx); err != nil {
		return nil, err
	}
	return pinger.Statistics(), nil
}

// isSocketError tells a refused socket (try the other kind) from a probe
// that ran and failed.
func isSocketError(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPROTONOSUPPORT)
}
