// Package plugins is the set of CoreDNS plugins compiled into gtm's CoreDNS,
// and the place that puts gtm into CoreDNS's directive order. Importing it is
// enough to start a CoreDNS server with gtm from a Corefile, which is what
// cmd/coredns and the integration tests do.
package plugins

import (
	"fmt"
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/gtm-project/gtm/internal/buildinfo"

	// Only what a GTM deployment needs, so that builds stay short.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/dnssec"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/whoami"

	_ "github.com/gtm-project/gtm" // registers the gtm plugin
)

// Anchor is the directive gtm runs immediately before: gtm's answers then
// pass through cache, and names it does not own reach cache and the rest.
const Anchor = "cache"

// stock is CoreDNS's own order, kept so a test can check nothing was lost.
var stock = slices.Clone(dnsserver.Directives)

func init() {
	d, err := Insert(dnsserver.Directives, "gtm", Anchor)
	if err != nil {
		panic(err)
	}
	dnsserver.Directives = d
	if err := dnsserver.Register(); err != nil {
		panic(err)
	}
}

// Insert returns a new directive list with name placed immediately before
// anchor. It never writes into directives, and fails if the anchor is missing
// or name is already present.
func Insert(directives []string, name, anchor string) ([]string, error) {
	if slices.Contains(directives, name) {
		return nil, fmt.Errorf("directive %q is already in the list", name)
	}
	i := slices.Index(directives, anchor)
	if i < 0 {
		return nil, fmt.Errorf("anchor directive %q not found: cannot place %q", anchor, name)
	}
	out := make([]string, 0, len(directives)+1)
	out = append(out, directives[:i]...)
	out = append(out, name)
	return append(out, directives[i:]...), nil
}

// AppVersion is the version gtm's CoreDNS reports (-version, the startup
// banner): CoreDNS's, then gtm's module version, "1.15.0+gtm-v1.2.0".
func AppVersion(core string, b buildinfo.Info) string {
	return core + "+gtm-" + b.Version
}
