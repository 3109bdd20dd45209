// Command coredns is CoreDNS with the gtm plugin placed before cache.
package main

import (
	_ "github.com/gtm-project/gtm/cmd/coredns/plugins"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
