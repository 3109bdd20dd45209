package alert

import (
	"errors"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
)

// The vectors are registered on the first New rather than at init, and
// through register, so that however many dispatchers reloads create (or
// another copy of this package in a test binary registers first), the
// process exports one family of each.
var (
	metricsOnce sync.Once
	deliveries  *prometheus.CounterVec
	attempts    *prometheus.CounterVec

	// live counts the open dispatchers that have each webhook name, so
	// that closing the old dispatcher after a reload keeps the series the
	// new one continues.
	liveMu sync.Mutex
	live   = map[string]int{}
)

// The results of a delivery.
const (
	resultOK      = "ok"
	resultFailed  = "failed"
	resultDropped = "dropped"
)

func initMetrics() {
	metricsOnce.Do(func() {
		deliveries = register(newDeliveriesVec())
		attempts = register(newAttemptsVec())
	})
}

func newDeliveriesVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "alert_deliveries_total",
		Help: "Counter of webhook deliveries by webhook and result (ok, failed, or dropped from a full queue).",
	}, []string{"webhook", "result"})
}

func newAttemptsVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "alert_attempts_total",
		Help: "Counter of HTTP attempts to deliver to webhooks, retries included, by webhook.",
	}, []string{"webhook"})
}

// register registers v with the default registry, or returns the vector
// already registered under its name. A collector of another shape under the
// name leaves v counting unexported rather than failing a server's start.
func register(v *prometheus.CounterVec) *prometheus.CounterVec {
	err := prometheus.Register(v)
	if err == nil {
		return v
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	log.Errorf("alert metrics not exported: %v", err)
	return v
}

// hookMetrics are one webhook's series, resolved once.
type hookMetrics struct {
	ok, failed, dropped, attempts prometheus.Counter
}

// publish makes name's series (at 0, so that rates exist before the first
// event) and notes that one more open dispatcher has them.
func publish(name string) hookMetrics {
	liveMu.Lock()
	defer liveMu.Unlock()
	live[name]++
	return hookMetrics{
		ok:       deliveries.WithLabelValues(name, resultOK),
		failed:   deliveries.WithLabelValues(name, resultFailed),
		dropped:  deliveries.WithLabelValues(name, resultDropped),
		attempts: attempts.WithLabelValues(name),
	}
}

// unpublish deletes name's series when no open dispatcher has it any more.
func unpublish(name string) {
	liveMu.Lock()
	defer liveMu.Unlock()
	live[name]--
	if live[name] > 0 {
		return
	}
	delete(live, name)
	for _, r := range []string{resultOK, resultFailed, resultDropped} {
		deliveries.DeleteLabelValues(name, r)
	}
	attempts.DeleteLabelValues(name)
}
