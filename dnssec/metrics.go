package dnssec

import (
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var log = clog.NewWithPlugin("gtm")

var (
	signatures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "dnssec_signatures_total",
		Help: "Counter of sets signed, by kind: set (an answer set signed into the cache), denial (a nonexistent name's NSEC, signed per query), failed (a key failed to sign; the reply goes unsigned).",
	}, []string{"kind"})
	cacheHits = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "dnssec_cache_hits_total",
		Help: "Counter of answer sets whose signatures came from the cache.",
	})
	signedSet, signedDenial, signFailed = signatures.WithLabelValues("set"), signatures.WithLabelValues("denial"), signatures.WithLabelValues("failed")
)

// lastFailLog rate-limits the log of signing failures to one in 10 s: a key
// that fails, fails for every query.
var lastFailLog atomic.Int64

func signFailure(zone string, tag uint16, err error) {
	signFailed.Inc()
	now := time.Now().UnixNano()
	if last := lastFailLog.Load(); now-last > int64(10*time.Second) && lastFailLog.CompareAndSwap(last, now) {
		log.Errorf("dnssec: key %d of %s failed to sign, answers go unsigned: %v", tag, zone, err)
	}
}
