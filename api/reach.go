package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reaching a shared store: a node that cannot reach etcd keeps answering
// from its last state, and refuses writes (503 with the reason) rather
// than wait out a long timeout or diverge from the other nodes. A commit
// is given commitTimeout; one that fails because etcd cannot be reached,
// or a follower that cannot catch up, marks the store unreachable; a
// commit or a catch-up that succeeds marks it reachable again. For
// recheckAfter after a failure, writes are refused at once with its
// reason; after that the next write tries again.

const (
	// commitTimeout bounds a commit (and a catch-up) on a shared store.
	commitTimeout = 3 * time.Second
	// recheckAfter is how long a failure to reach the store refuses
	// writes without trying.
	recheckAfter = time.Second
)

// StoreStatus is the store the API commits to, and whether this node
// reaches it.
type StoreStatus struct {
	Kind      string    `json:"kind" enum:"bolt,etcd" doc:"the embedded file (bolt) or a cluster's etcd"`
	Where     string    `json:"where" doc:"the file, or etcd's endpoints and prefix"`
	Reachable bool      `json:"reachable" doc:"false while this node cannot reach etcd: writes are refused (503), answers come from the last state"`
	Error     string    `json:"error,omitempty" doc:"why it is unreachable"`
	Since     time.Time `json:"since" doc:"when it last turned reachable or unreachable (or the API started)"`
	// Cluster is set with a cluster's store (etcd).
	Cluster *ClusterHealth `json:"cluster,omitempty" doc:"how this node takes part in the cluster's health"`
}

type reach struct {
	mu     sync.Mutex
	down   bool
	err    string
	since  time.Time
	failed time.Time // the last failure
}

func (r *reach) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if err == nil {
		if r.down || r.since.IsZero() {
			if r.down {
				log.Infof("api: the store is reachable again")
			}
			r.down, r.err, r.since = false, "", now
		}
		return
	}
	if !r.down {
		log.Warningf("api: the store is unreachable, writes are refused until it is back: %v", err)
		r.down, r.since = true, now
	}
	r.err, r.failed = unreachableWhy(err, commitTimeout), now
}

// recent is the reason of a failure within recheckAfter, or "".
func (r *reach) recent() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down && time.Since(r.failed) < recheckAfter {
		return r.err
	}
	return ""
}

func (r *reach) get() (down bool, err string, since time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down, r.err, r.since
}

// unreachable reports whether err says the store could not be reached (no
// connection, no leader, a deadline), rather than that it refused.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		switch ee.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}

// storeStatus is the store's part of the status.
func (s *Service) storeStatus() StoreStatus {
	down, err, since := s.reach.get()
	out := StoreStatus{Kind: "bolt", Where: s.key, Reachable: !down, Error: err, Since: since}
	if s.cluster {
		out.Kind = "etcd"
		if ch := s.clusterHealth(); ch != nil {
			// The cluster's check reads etcd every second, writes or not:
			// it says whether etcd answers now (a failed commit may be
			// older than its last answer).
			if why := ch.failing.Load(); why != nil {
				out.Reachable, out.Error, out.Since = false, *why, time.Unix(0, ch.failSince.Load()).UTC()
			} else if !out.Reachable && time.Unix(0, ch.lastOK.Load()).After(since) {
				out.Reachable, out.Error, out.Since = true, "", time.Unix(0, ch.lastOK.Load()).UTC()
			}
			out.Cluster = ch.status()
			if d := s.duplicate.Load(); d != nil {
				out.Cluster.Conflict = *d
			}
		}
	}
	return out
}

// unreachableError is the reason a write is refused.
// unreachableWhy says why etcd was not reached, for a person: an
// operation cut short by its deadline says how long it waited, not
// "context deadline exceeded".
func unreachableWhy(err error, within time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", within)
	}
	return err.Error()
}

func (s *Service) unreachableError(why string) string {
	where := s.key
	if e := s.set.Etcd; e != nil {
		where = "etcd at " + strings.Join(e.Endpoints, ",")
	}
	return fmt.Sprintf("the store (%s) is unreachable: %s; answers continue from revision %d, writes are refused until it is back", where, why, s.curRev())
}

func (s *Service) curRev() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}
