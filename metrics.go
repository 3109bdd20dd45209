package gtm

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// replyErrors has no labels: what failed is in the (rate-limited) log. The
// series of configuration objects are the engine's (engine/metrics.go).
var replyErrors = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace, Subsystem: "gtm", Name: "reply_errors_total",
	Help: "Counter of replies that could not be packed or written; each is answered with SERVFAIL where the connection allows.",
})
