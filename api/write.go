package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/store"
)

// WriteOptions are the query and header parameters every write takes.
type WriteOptions struct {
	IfMatch string `header:"If-Match" doc:"the revision (ETag) the change builds on; 412 if another change came first"`
	DryRun  bool   `query:"dry-run" doc:"validate and say what would change, without applying"`
	Comment string `query:"comment" maxLength:"500" doc:"why, kept in history"`
}

// WriteResult is what a write did, or would do on a dry run.
type WriteResult struct {
	Revision uint64          `json:"revision" doc:"the new revision; on a dry run, the one it was checked against"`
	DryRun   bool            `json:"dry-run"`
	Change   string          `json:"change" doc:"what changed, as history records it"`
	Dropped  []string        `json:"dropped,omitempty" doc:"overrides dropped because what they referred to is gone"`
	Answers  []engine.Effect `json:"answers,omitempty" doc:"on a dry run, the rules whose answers would change, and how"`
}

// WriteOutput is a write's response: the result with the new ETag.
type WriteOutput struct {
	// Status is 201 for an object created, else 200.
	Status int
	ETag   string `header:"ETag"`
	Body   WriteResult
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// matches reports whether an If-Match header names rev (or is "*" or
// absent).
func matches(ifMatch string, rev uint64) bool {
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	// Strong comparison (RFC 9110 13.1.1): a weak tag never matches.
	for _, t := range strings.Split(ifMatch, ",") {
		if t = strings.TrimSpace(t); t == etag(rev) {
			return true
		}
	}
	return false
}

// edit changes a copy of the stored state; cfg is the configuration the
// engine answers from now (both layers). It returns what a history entry
// should say, or an error made with huma (404, 409) for the caller.
type edit func(next *state, cfg *config.Config) (string, error)

// write makes one change as a unit: check the revision, edit, validate the
// whole configuration, commit to the store, apply to the engine. Whatever
// fails leaves the store, the engine and the answers as they were.
// release names instances whose manual-failback hold ends with the change.
//
// Writes that arrive while another commits are committed together (group
// commit): each is checked and validated in turn against the state the
// ones before it leave, as if alone, and those accepted share one store
// transaction and one engine change. A write's If-Match is compared with
// the revision the writes before it in the group made, so two writes built
// on the same read still cannot both succeed.
func (s *Service) write(ctx context.Context, o WriteOptions, fn edit, release ...string) (*WriteOutput, error) {
	// A stale revision is refused at once, not after the writes queued
	// before it; it is checked again in turn.
	s.mu.RLock()
	stale, running := !matches(o.IfMatch, s.rev), s.eng != nil && s.st != nil && !s.paused
	s.mu.RUnlock()
	if !running {
		return nil, huma.Error503ServiceUnavailable("the API is not running")
	}
	if stale {
		return nil, huma.Error412PreconditionFailed(fmt.Sprintf("the revision is newer than %s: read again, then change", o.IfMatch))
	}
	if why := s.reach.recent(); why != "" && !o.DryRun {
		return nil, huma.Error503ServiceUnavailable(s.unreachableError(why))
	}
	req := &writeReq{ctx: ctx, o: o, fn: fn, release: release, who: callerOf(ctx), done: make(chan writeResp, 1)}
	if o.DryRun {
		s.wmu.Lock()
		s.commit([]*writeReq{req})
		s.wmu.Unlock()
	} else {
		s.qmu.Lock()
		s.queue = append(s.queue, req)
		s.qmu.Unlock()
		// Whoever holds wmu commits what is queued, a group at a time,
		// until this write has been committed (by it or by another).
		for len(req.done) == 0 {
			s.wmu.Lock()
			s.qmu.Lock()
			n := min(len(s.queue), maxGroup)
			group := s.queue[:n:n]
			s.queue = s.queue[n:]
			s.qmu.Unlock()
			if len(group) > 0 {
				s.commit(group)
			}
			s.wmu.Unlock()
		}
	}
	r := <-req.done
	return r.out, r.err
}

// maxGroup is the most writes committed together: below what one etcd
// transaction takes (store.MaxEtcdBatch).
const maxGroup = 100

// maxEtcdState is the most bytes of state one etcd commit carries: below
// etcd's default request limit (1.5 MiB) with room for the history's
// records around them.
const maxEtcdState = 1 << 20

type writeReq struct {
	ctx     context.Context
	o       WriteOptions
	fn      edit
	release []string
	who     caller
	done    chan writeResp
}

type writeResp struct {
	out *WriteOutput
	err error
}

func (r *writeReq) answer(out *WriteOutput, err error) { r.done <- writeResp{out, err} }

// commit makes a group of writes (or one dry run), under wmu.
func (s *Service) commit(group []*writeReq) {
	if s.eng == nil || s.st == nil || s.paused {
		for _, r := range group {
			r.answer(nil, huma.Error503ServiceUnavailable("the API is not running"))
		}
		return
	}
	type accepted struct {
		req    *writeReq
		result WriteResult
	}
	var (
		ok      []accepted
		revs    []store.Revision
		st      = s.state
		rev     = s.rev
		cfg     = s.eng.Config()
		release []string
		size    int // of the revisions' states so far
	)
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.answer(nil, huma.Error503ServiceUnavailable("the request ended: "+err.Error()))
			continue
		}
		if !matches(r.o.IfMatch, rev) {
			r.answer(nil, huma.Error412PreconditionFailed(fmt.Sprintf("the revision is %d, not %s: read again, then change", rev, r.o.IfMatch)))
			continue
		}
		next := st.clone()
		what, err := r.fn(&next, cfg)
		if err != nil {
			r.answer(nil, err)
			continue
		}
		nextCfg := cfg
		if configChanged(st.Config, next.Config) {
			merged, err := config.Merge(s.base, next.Config)
			if err != nil {
				r.answer(nil, huma.Error422UnprocessableEntity(err.Error()))
				continue
			}
			merged.API = s.set
			if db := s.eng.GeoIP(); db != nil {
				if err := merged.NeedsCity(db.Path(), db.Kind(), db.City()); err != nil {
					r.answer(nil, huma.Error422UnprocessableEntity(err.Error()))
					continue
				}
			}
			nextCfg = merged
		}
		var dropped []string
		next.Overrides, dropped = next.Overrides.fit(nextCfg)
		if what == "" {
			what = describe(st, next)
		}
		res := WriteResult{Revision: rev, DryRun: r.o.DryRun, Change: what, Dropped: dropped}
		if r.o.DryRun {
			change := next.Overrides.change(nextCfg, s.eng.Overrides())
			change.Release = r.release
			if nextCfg != cfg {
				change.Config = nextCfg
			}
			eff, err := s.eng.Preview(change)
			if err != nil {
				r.answer(nil, huma.Error422UnprocessableEntity(err.Error()))
				continue
			}
			res.Answers = eff
			r.answer(&WriteOutput{Status: http.StatusOK, ETag: etag(rev), Body: res}, nil)
			continue
		}
		data := next.encode()
		if s.cluster && len(data) > maxEtcdState {
			r.answer(nil, huma.NewError(http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"the store's state would be %d bytes after this change, more than one etcd request takes (%d bytes here; etcd's --max-request-bytes, 1.5 MiB by default): keep large object sets in the Corefile", len(data), maxEtcdState)))
			continue
		}
		if s.cluster && len(revs) > 0 && size+len(data) > maxEtcdState {
			// One etcd transaction carries the group's states: the rest
			// go in the next group, checked against what this one made.
			rest := group[i:]
			s.qmu.Lock()
			s.queue = append(rest[:len(rest):len(rest)], s.queue...)
			s.qmu.Unlock()
			break
		}
		size += len(data)
		rev++
		res.Revision = rev
		ok = append(ok, accepted{r, res})
		revs = append(revs, store.Revision{Who: r.who.name, Comment: r.o.Comment, Change: what, Data: data})
		st, cfg = next, nextCfg
		release = append(release, r.release...)
	}
	if len(ok) == 0 {
		return
	}
	fail := func(err error) {
		for _, a := range ok {
			a.req.answer(nil, err)
		}
	}
	timeout := 30 * time.Second
	if s.cluster {
		timeout = commitTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	committed, err := s.st.CommitMany(ctx, s.rev, revs)
	if s.cluster && unreachable(err) {
		// Not committed: etcd was not reached (a client waits for a
		// connection before it sends), so nothing changed.
		s.reach.set(err)
		fail(huma.Error503ServiceUnavailable(s.unreachableError(unreachableWhy(err, commitTimeout))))
		return
	}
	if err == nil || errors.Is(err, store.ErrConflict) {
		s.reach.set(nil)
	}
	if errors.Is(err, store.ErrConflict) {
		// The store moved without this service (another node, or a
		// revert that failed): follow it.
		if serr := s.syncLocked(ctx); serr != nil {
			log.Errorf("api: following the store: %v", serr)
		}
		fail(huma.Error412PreconditionFailed("another change was committed meanwhile: read again, then change"))
		return
	}
	if err != nil {
		fail(huma.Error500InternalServerError("store: " + err.Error()))
		return
	}
	last := committed[len(committed)-1].Rev
	change := st.Overrides.change(cfg, s.eng.Overrides())
	change.Release = release
	if configChanged(s.state.Config, st.Config) {
		change.Config = cfg
	}
	if err := s.eng.Apply(change); err != nil {
		// The validator and the engine disagree, which is a bug; put the
		// store back so that it holds what answers.
		s.revert(ctx, last, err)
		fail(huma.Error422UnprocessableEntity(err.Error()))
		return
	}
	s.mu.Lock()
	s.state, s.rev = st, last
	s.mu.Unlock()
	s.applied()
	for i, a := range ok {
		a.result.Revision = committed[i].Rev
		a.req.answer(&WriteOutput{Status: http.StatusOK, ETag: etag(committed[i].Rev), Body: a.result}, nil)
	}
}

// revert commits the state the engine answers from again, after the
// engine refused revision last.
func (s *Service) revert(ctx context.Context, last uint64, why error) {
	r, err := s.st.Commit(ctx, last, store.Revision{Who: "gtm", Change: "reverted: " + why.Error(), Data: s.state.encode()})
	if err != nil {
		log.Errorf("api: revision %d was refused by the engine (%v) and could not be reverted: %v", last, why, err)
		if serr := s.syncLocked(ctx); serr != nil {
			log.Errorf("api: following the store: %v", serr)
		}
		return
	}
	s.mu.Lock()
	s.rev = r.Rev
	s.mu.Unlock()
	s.applied()
}

func configChanged(a, b config.Layer) bool {
	return string(state{Config: a}.encode()) != string(state{Config: b}.encode())
}
