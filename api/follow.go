package api

import (
	"context"
	"time"
)

// Following a shared store: when the store is a cluster's (etcd), other
// nodes commit to it too, and their revisions must reach this node's
// answers without waiting for a conflict. A goroutine runs while the API
// listens: it watches the store after the service's revision and, for a
// revision this service did not make (one beyond its own), brings the
// service and the engine to the store's current revision under wmu, as a
// conflict does. A watch the store drops (a watcher too far behind, etcd
// unreachable) is set up again from the current revision after a backoff
// that doubles up to followMaxBackoff.

const (
	followMinBackoff = 50 * time.Millisecond
	followMaxBackoff = 5 * time.Second
)

// startFollow starts following the store, under lnMu.
func (s *Service) startFollow() {
	if !s.cluster || s.followStop != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	s.followStop, s.followDone = stop, done
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	go s.follow(ctx, done)
	s.startReport(ctx)
	if ch := s.clusterHealth(); ch != nil {
		s.mu.RLock()
		e := s.eng
		s.mu.RUnlock()
		ch.use(e, s.node, s.set)
	}
}

// stopFollow ends the follower and waits for it, under lnMu.
func (s *Service) stopFollow() {
	stop, done := s.followStop, s.followDone
	s.followStop, s.followDone = nil, nil
	if stop == nil {
		return
	}
	close(stop)
	<-done
	if s.reportDone != nil {
		<-s.reportDone
		s.reportDone = nil
	}
}

func (s *Service) follow(ctx context.Context, done chan struct{}) {
	defer close(done)
	backoff := followMinBackoff
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, followMaxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	// catchUp brings the service to the store's current revision within
	// commitTimeout (wmu is held: writes wait for it), and says whether
	// the store was reached.
	catchUp := func() error {
		c, cancel := context.WithTimeout(ctx, commitTimeout)
		defer cancel()
		err := s.syncLocked(c)
		if ctx.Err() == nil {
			if err == nil {
				s.reach.set(nil)
			} else if unreachable(err) {
				s.reach.set(err)
			}
		}
		return err
	}
	resync := false // a watch was dropped: catch up before watching again
	for ctx.Err() == nil {
		s.wmu.Lock()
		s.mu.RLock()
		st, after, eng, paused := s.st, s.rev, s.eng, s.paused
		s.mu.RUnlock()
		if st == nil || eng == nil || paused {
			s.wmu.Unlock()
			return
		}
		if resync {
			if err := catchUp(); err != nil {
				s.wmu.Unlock()
				if ctx.Err() == nil {
					log.Warningf("api: following the store: %v", err)
				}
				if !wait() {
					return
				}
				continue
			}
			s.mu.RLock()
			after = s.rev
			s.mu.RUnlock()
		}
		s.wmu.Unlock()
		wctx, cancel := context.WithCancel(ctx)
		ch, err := st.Watch(wctx, after)
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				log.Warningf("api: watching the store: %v", err)
			}
			resync = true
			if !wait() {
				return
			}
			continue
		}
		failed := false
		for r := range ch {
			if failed {
				continue // draining after cancel
			}
			s.wmu.Lock()
			s.mu.RLock()
			mine := r.Rev <= s.rev
			s.mu.RUnlock()
			if !mine && ctx.Err() == nil {
				if err := catchUp(); err != nil && ctx.Err() == nil {
					// Not followed: catch up again after a backoff
					// rather than wait for the next commit.
					log.Errorf("api: following the store to revision %d: %v", r.Rev, err)
					failed = true
					cancel()
				}
			}
			s.wmu.Unlock()
			if !failed {
				backoff = followMinBackoff
			}
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !failed {
			log.Warningf("api: the store's watch ended; watching again from its current revision in %v", backoff)
		}
		resync = true
		if !wait() {
			return
		}
	}
}
