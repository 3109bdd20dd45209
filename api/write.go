package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	ETag string `header:"ETag"`
	Body WriteResult
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// matches reports whether an If-Match header names rev (or is "*" or
// absent).
func matches(ifMatch string, rev uint64) bool {
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	for _, t := range strings.Split(ifMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag(rev) || t == strconv.FormatUint(rev, 10) {
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
func (s *Service) write(ctx context.Context, o WriteOptions, fn edit, release ...string) (*WriteOutput, error) {
	who := callerOf(ctx)
	// A stale revision is refused at once, not after the writes queued
	// before it; it is checked again under the lock.
	s.mu.RLock()
	stale := !matches(o.IfMatch, s.rev)
	s.mu.RUnlock()
	if stale {
		return nil, huma.Error412PreconditionFailed(fmt.Sprintf("the revision is newer than %s: read again, then change", o.IfMatch))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eng == nil || s.st == nil {
		return nil, huma.Error503ServiceUnavailable("the API is not running")
	}
	if !matches(o.IfMatch, s.rev) {
		return nil, huma.Error412PreconditionFailed(fmt.Sprintf("the revision is %d, not %s: read again, then change", s.rev, o.IfMatch))
	}
	cur := s.eng.Config()
	next := s.state.clone()
	what, err := fn(&next, cur)
	if err != nil {
		return nil, err
	}
	change := engine.Change{Release: release}
	cfg := cur
	if configChanged(s.state.Config, next.Config) {
		merged, err := config.Merge(s.base, next.Config)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(err.Error())
		}
		merged.API = s.set
		cfg, change.Config = merged, merged
	}
	var dropped []string
	next.Overrides, dropped = next.Overrides.fit(cfg)
	oc := next.Overrides.change(cfg, s.eng.Overrides())
	change.Modes, change.Pins, change.RulePins = oc.Modes, oc.Pins, oc.RulePins
	if what == "" {
		what = describe(s.state, next)
	}
	res := WriteResult{Revision: s.rev, DryRun: o.DryRun, Change: what, Dropped: dropped}
	if o.DryRun {
		eff, err := s.eng.Preview(change)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity(err.Error())
		}
		res.Answers = eff
		return &WriteOutput{ETag: etag(s.rev), Body: res}, nil
	}
	rev, err := s.st.Commit(ctx, s.rev, store.Revision{Who: who.name, Comment: o.Comment, Change: what, Data: next.encode()})
	if errors.Is(err, store.ErrConflict) {
		return nil, huma.Error412PreconditionFailed("another change was committed meanwhile: read again, then change")
	}
	if err != nil {
		return nil, huma.Error500InternalServerError("store: " + err.Error())
	}
	if err := s.eng.Apply(change); err != nil {
		// The validator and the engine disagree, which is a bug; put the
		// store back so that it holds what answers.
		if _, rerr := s.st.Commit(ctx, rev.Rev, store.Revision{Who: who.name, Change: "reverted: " + err.Error(), Data: s.state.encode()}); rerr != nil {
			log.Errorf("api: revision %d was refused by the engine (%v) and could not be reverted: %v", rev.Rev, err, rerr)
		} else if c, cerr := s.st.Current(ctx); cerr == nil {
			s.rev = c.Rev
		}
		return nil, huma.Error422UnprocessableEntity(err.Error())
	}
	s.state, s.rev = next, rev.Rev
	res.Revision = rev.Rev
	return &WriteOutput{ETag: etag(rev.Rev), Body: res}, nil
}

func configChanged(a, b config.Layer) bool {
	return string(state{Config: a}.encode()) != string(state{Config: b}.encode())
}
