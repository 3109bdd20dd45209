package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gtm-project/gtm/internal/etcdtest"
)

// place is a store's place (a file, an etcd prefix) in a behaviour test
// that every implementation passes.
type place struct {
	// open opens the store at the place, keeping keepEvents events (the
	// default if 0); each call opens it anew, as after a restart, and the
	// store is closed when the test ends.
	open func(t *testing.T, keepEvents int) Store
	// maxBatch is the most revisions one CommitMany takes; 0 if unbounded.
	maxBatch int
}

// backends are the implementations, each making a new, empty place.
var backends = []struct {
	name  string
	place func(t *testing.T) place
}{
	{"bolt", func(t *testing.T) place {
		path := filepath.Join(t.TempDir(), "gtm.db")
		return place{open: func(t *testing.T, keep int) Store {
			return openWith(t, path, WithKeepEvents(keep))
		}}
	}},
	{"etcd", func(t *testing.T) place {
		ep := etcdtest.Start(t).Endpoint
		return place{open: func(t *testing.T, keep int) Store {
			return openEtcd(t, EtcdConfig{Endpoints: []string{ep}, Prefix: "/gtm-test/", KeepEvents: keep})
		}, maxBatch: MaxEtcdBatch}
	}},
}

// forEach runs test on a new place of every implementation.
func forEach(t *testing.T, test func(t *testing.T, p place)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.place(t)) })
	}
}

func openEtcd(t *testing.T, cfg EtcdConfig) *Etcd {
	t.Helper()
	e, err := OpenEtcd(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(fmt.Errorf("closing the etcd store: %w", err))
		}
	})
	return e
}
