package alert

import (
	"testing"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"go.uber.org/goleak"
)

// Every test closes its dispatchers and servers; goleak checks that no
// delivery goroutine or connection outlives them.
func TestMain(m *testing.M) {
	clog.Discard()
	goleak.VerifyTestMain(m)
}
