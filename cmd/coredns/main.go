// Command coredns is CoreDNS with the gtm plugin placed before cache.
package main

import (
	"github.com/gtm-project/gtm/cmd/coredns/plugins"
	"github.com/gtm-project/gtm/internal/buildinfo"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/coremain"
)

func main() {
	// -version and the startup banner name gtm and its revision:
	// "CoreDNS-1.15.0+gtm-VERSION" then "linux/amd64, go1.26.8, REVISION".
	b := buildinfo.Get()
	caddy.AppVersion = plugins.AppVersion(coremain.CoreVersion, b)
	coremain.GitCommit = b.Revision
	coremain.Run()
}
