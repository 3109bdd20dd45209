package etcdtest

import (
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A member and a cluster start, take a write and read it back from every
// member, and stop without leaving goroutines behind.
func TestStart(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 3} {
		c := StartCluster(t, n)
		cli := Client(t, c.Endpoints()[0])
		if _, err := cli.Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Members {
			r, err := Client(t, m.Endpoint).Get(ctx, "k")
			if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
				t.Fatalf("%d members: %s read %v %v", n, m.Name, r, err)
			}
		}
		if l := c.Leader(t); l == nil {
			t.Fatal("no leader")
		}
	}
}
