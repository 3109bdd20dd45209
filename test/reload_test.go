package test

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func monitored(interval string, port int) string {
	return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		monitor check {
			protocol tcp
			port %d
			interval %s
			timeout 50ms
		}
		monitor web {
			protocol http
			port %d
			interval %s
			timeout 50ms
		}
		pool a {
			monitor check
			address 127.0.0.31 127.0.0.32
			address 127.0.0.33 monitor web
		}
		instance www {
			primary a
		}
	}
}`, port, interval, port, interval)
}

// A reload with changed monitors leaves no prober of the old configuration
// running, and stopping the server leaves no goroutine at all.
func TestReloadLeavesNoProber(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := listen(t, "127.0.0.31:0")
	s := start(t, monitored("100ms", e.port()))
	waitProbes(t, "check", "a", 2)
	for _, iv := range []string{"150ms", "200ms", "100ms"} {
		s.reload(t, monitored(iv, e.port()))
	}
	waitProbes(t, "check", "a", 2)
	time.Sleep(300 * time.Millisecond) // several probe rounds, so old probers would show
	s.inst.Stop()
	s.inst.ShutdownCallbacks()
	e.down()
}
