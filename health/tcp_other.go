//go:build !linux

package health

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

var errNoFastConnect = errors.New("no fast connect on this system")

// connectFast is Linux only; elsewhere TCP probes dial with net.Dialer.
func connectFast(context.Context, netip.AddrPort, time.Time) error { return errNoFastConnect }

const haveFastConnect = false
