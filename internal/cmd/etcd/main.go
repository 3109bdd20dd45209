// Command etcd is etcd's own server, built from gtm's module graph (the
// version gtm's client speaks, v3.7.2, which CoreDNS v1.15.0 requires), so
// that the cluster benchmark and demo start real etcd members as separate
// processes without installing anything.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
