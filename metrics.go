package gtm

import (
	"github.com/coredns/coredns/plugin"
	"github.com/gtm-project/gtm/internal/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// replyErrors has no labels: what failed is in the (rate-limited) log. The
// series of configuration objects are the engine's (engine/metrics.go).
var replyErrors = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace, Subsystem: "gtm", Name: "reply_errors_total",
	Help: "Counter of replies that could not be packed or written; each is answered with SERVFAIL where the connection allows.",
})

// build is what this binary says about the gtm in it, in the startup log
// and in buildInfo.
var build = buildinfo.Get()

// buildInfo is 1, labelled as CoreDNS's own coredns_build_info is.
var buildInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: plugin.Namespace, Subsystem: "gtm", Name: "build_info",
	Help: "A metric with a constant '1' value labeled by gtm's module version, the VCS revision and the Go version it was built from.",
}, []string{"version", "revision", "goversion"})

func init() { buildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1) }
