package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/store"
)

// DefaultMaxBody is the largest request body accepted when 'max-body' is
// not given.
const DefaultMaxBody = 1 << 20

// Version is the API's version in its OpenAPI document.
const Version = "1.0.0"

// op sets what every operation shares: the role it needs, the bearer
// scheme in the document, the body limit.
func op(need Role, o huma.Operation) huma.Operation {
	o.Metadata = map[string]any{roleKey: need}
	o.Security = []map[string][]string{{"bearer": {}}}
	if o.Description == "" {
		o.Description = "Needs the " + need.String() + " role."
	} else {
		o.Description += "\n\nNeeds the " + need.String() + " role."
	}
	return o
}

// newAPI makes the huma API on mux: OpenAPI 3.1 at /openapi.json, no
// documentation page (huma's loads scripts from a CDN, and nothing here may
// load from outside the machine), no $schema links in bodies.
func newAPI(mux *http.ServeMux, maxBody int64) huma.API {
	cfg := huma.DefaultConfig("gtm control API", Version)
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "Create, read, change and delete gtm's monitors, pools and instances; set operators' overrides; read status, events, history and explanations."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "A token from the API's token file. Roles: viewer (reads), operator (overrides), admin (configuration)."},
	}
	api := humago.New(mux, cfg)
	api.OpenAPI().OnAddOperation = append(api.OpenAPI().OnAddOperation, func(_ *huma.OpenAPI, o *huma.Operation) {
		if o.MaxBodyBytes == 0 {
			o.MaxBodyBytes = maxBody
		}
	})
	return api
}

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	maxBody := s.set.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	api := newAPI(mux, maxBody)
	api.UseMiddleware(s.authorize(api))
	registerKind(s, api, monitors)
	registerKind(s, api, pools)
	registerKind(s, api, instances)
	s.registerOverrides(api)
	s.registerHistory(api)
	s.registerZones(api)
	s.registerWhoami(api)
	s.registerEvents(api)
	s.registerStatus(api)
	s.registerCluster(api)
	s.registerTraffic(api)
	registerConsole(mux)
	return mux
}

type zonesOutput struct {
	ETag string `header:"ETag"`
	Body []Zone
}

// Zone is one zone gtm answers for, with the serial of its SOA now.
type Zone struct {
	Name string `json:"name"`
}

func (s *Service) registerZones(api huma.API) {
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "list-zones", Method: http.MethodGet, Path: "/api/v1/zones", Tags: []string{"Zones"},
		Summary: "List the zones this block serves (set in the Corefile)"}),
		func(ctx context.Context, _ *struct{}) (*zonesOutput, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			out := &zonesOutput{ETag: etag(s.rev)}
			for _, z := range s.base.Zones {
				out.Body = append(out.Body, Zone{Name: z})
			}
			return out, nil
		})
}

// Overrides.

type overridesOutput struct {
	ETag string `header:"ETag"`
	Body Overrides
}

// ModeBody sets an address's mode.
type ModeBody struct {
	Mode   string `json:"mode" enum:"drain,force,auto" doc:"drain: answer as down; force: answer as up; auto: as health checks say"`
	Reason string `json:"reason,omitempty" maxLength:"500"`
}

type modeInput struct {
	Pool    string `path:"pool" maxLength:"255"`
	Address string `path:"address" maxLength:"255"`
	WriteOptions
	Body ModeBody
}

type modeDeleteInput struct {
	Pool    string `path:"pool" maxLength:"255"`
	Address string `path:"address" maxLength:"255"`
	WriteOptions
}

// PinBody holds an instance, or one rule of it, on a collection.
type PinBody struct {
	Switch string `json:"switch" enum:"auto,primary,secondary" doc:"auto: fail over as health says; primary or secondary: stay there"`
	Rule   string `json:"rule,omitempty" maxLength:"255" doc:"one rule ('default', 'country DE AT'); empty for every rule"`
	Reason string `json:"reason,omitempty" maxLength:"500"`
}

type pinInput struct {
	Instance string `path:"instance" maxLength:"255"`
	WriteOptions
	Body PinBody
}

type pinDeleteInput struct {
	Instance string `path:"instance" maxLength:"255"`
	Rule     string `query:"rule" maxLength:"255"`
	WriteOptions
}

// SwitchBackBody ends a manual-failback hold.
type SwitchBackBody struct {
	Reason string `json:"reason,omitempty" maxLength:"500"`
}

type switchBackInput struct {
	Instance string `path:"instance" maxLength:"255"`
	WriteOptions
	Body *SwitchBackBody
}

func (s *Service) registerOverrides(api huma.API) {
	tag := []string{"Overrides"}
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "list-overrides", Method: http.MethodGet, Path: "/api/v1/overrides", Tags: tag,
		Summary: "List the operators' overrides in force"}),
		func(ctx context.Context, _ *struct{}) (*overridesOutput, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return &overridesOutput{ETag: etag(s.rev), Body: s.state.Overrides.lists()}, nil
		})
	huma.Register(api, op(RoleOperator, huma.Operation{OperationID: "set-address-mode", Method: http.MethodPut, Path: "/api/v1/overrides/addresses/{pool}/{address}", Tags: tag,
		Summary: "Drain, force or return to auto an address"}),
		func(ctx context.Context, in *modeInput) (*WriteOutput, error) {
			who := callerOf(ctx)
			in.Address = canonical(in.Address)
			return s.write(ctx, in.WriteOptions, func(next *state, cfg *config.Config) (string, error) {
				p := cfg.Pool(in.Pool)
				if p == nil {
					return "", huma.Error404NotFound(fmt.Sprintf("there is no pool '%s'", in.Pool))
				}
				a := addressIn(p, in.Address)
				if a == nil {
					return "", huma.Error404NotFound(fmt.Sprintf("pool '%s' has no address %s", in.Pool, in.Address))
				}
				list := &next.Overrides.Addresses
				*list = slices.DeleteFunc(*list, func(o AddressOverride) bool { return o.Pool == in.Pool && o.Address == in.Address })
				if modeOf[in.Body.Mode] != a.Mode {
					*list = append(*list, AddressOverride{Pool: in.Pool, Address: in.Address, Mode: in.Body.Mode, Who: who.name, Time: time.Now().UTC(), Reason: in.Body.Reason})
				}
				return fmt.Sprintf("address %s/%s set to %s", in.Pool, in.Address, in.Body.Mode), nil
			})
		})
	huma.Register(api, op(RoleOperator, huma.Operation{OperationID: "clear-address-mode", Method: http.MethodDelete, Path: "/api/v1/overrides/addresses/{pool}/{address}", Tags: tag,
		Summary: "Return an address to its configured mode"}),
		func(ctx context.Context, in *modeDeleteInput) (*WriteOutput, error) {
			in.Address = canonical(in.Address)
			return s.write(ctx, in.WriteOptions, func(next *state, cfg *config.Config) (string, error) {
				list := &next.Overrides.Addresses
				n := len(*list)
				*list = slices.DeleteFunc(*list, func(o AddressOverride) bool { return o.Pool == in.Pool && o.Address == in.Address })
				if len(*list) == n {
					return "", huma.Error404NotFound(fmt.Sprintf("address %s/%s has no override", in.Pool, in.Address))
				}
				return fmt.Sprintf("override of %s/%s cleared", in.Pool, in.Address), nil
			})
		})
	huma.Register(api, op(RoleOperator, huma.Operation{OperationID: "pin-instance", Method: http.MethodPut, Path: "/api/v1/overrides/pins/{instance}", Tags: tag,
		Summary: "Pin an instance, or one of its rules, to a collection"}),
		func(ctx context.Context, in *pinInput) (*WriteOutput, error) {
			who := callerOf(ctx)
			name := config.Fqdn(in.Instance)
			return s.write(ctx, in.WriteOptions, func(next *state, cfg *config.Config) (string, error) {
				inst := cfg.Instance(name)
				if inst == nil {
					return "", huma.Error404NotFound(fmt.Sprintf("there is no instance '%s'", name))
				}
				if in.Body.Rule != "" && ruleIn(inst, in.Body.Rule) == nil {
					return "", huma.Error404NotFound(fmt.Sprintf("instance '%s' has no rule '%s'", name, in.Body.Rule))
				}
				sw, _ := config.ParseSwitch(in.Body.Switch)
				if sw == config.SwitchSecondary {
					if r := withoutSecondary(inst, in.Body.Rule); r != nil {
						return "", huma.Error409Conflict(fmt.Sprintf("rule '%s' of instance '%s' has no secondary collection to pin to", r.Name(), name))
					}
				}
				list := &next.Overrides.Pins
				*list = slices.DeleteFunc(*list, func(p PinOverride) bool { return p.Instance == name && p.Rule == in.Body.Rule })
				if in.Body.Rule != "" || sw != inst.Switch {
					*list = append(*list, PinOverride{Instance: name, Rule: in.Body.Rule, Switch: in.Body.Switch, Who: who.name, Time: time.Now().UTC(), Reason: in.Body.Reason})
				}
				return fmt.Sprintf("%s pinned to %s", pinName(PinOverride{Instance: name, Rule: in.Body.Rule}), in.Body.Switch), nil
			})
		})
	huma.Register(api, op(RoleOperator, huma.Operation{OperationID: "unpin-instance", Method: http.MethodDelete, Path: "/api/v1/overrides/pins/{instance}", Tags: tag,
		Summary: "Remove a pin of an instance (or, with ?rule=, of one rule)"}),
		func(ctx context.Context, in *pinDeleteInput) (*WriteOutput, error) {
			name := config.Fqdn(in.Instance)
			return s.write(ctx, in.WriteOptions, func(next *state, cfg *config.Config) (string, error) {
				list := &next.Overrides.Pins
				n := len(*list)
				*list = slices.DeleteFunc(*list, func(p PinOverride) bool { return p.Instance == name && p.Rule == in.Rule })
				if len(*list) == n {
					return "", huma.Error404NotFound(fmt.Sprintf("%s has no pin", pinName(PinOverride{Instance: name, Rule: in.Rule})))
				}
				return fmt.Sprintf("pin of %s removed", pinName(PinOverride{Instance: name, Rule: in.Rule})), nil
			})
		})
	huma.Register(api, op(RoleOperator, huma.Operation{OperationID: "switch-back", Method: http.MethodPost, Path: "/api/v1/instances/{instance}/switch-back", Tags: tag,
		Summary: "End a manual-failback hold: rules held on their secondary return to their primary if it is available"}),
		func(ctx context.Context, in *switchBackInput) (*WriteOutput, error) {
			name := config.Fqdn(in.Instance)
			s.mu.RLock()
			inst := (*config.Instance)(nil)
			if s.eng != nil {
				inst = s.eng.Config().Instance(name)
			}
			s.mu.RUnlock()
			if inst == nil {
				return nil, huma.Error404NotFound(fmt.Sprintf("there is no instance '%s'", name))
			}
			if inst.Failback != config.Manual {
				return nil, huma.Error409Conflict(fmt.Sprintf("instance '%s' fails back by itself (failback %s): there is no hold to end", name, inst.Failback))
			}
			o := in.WriteOptions
			if in.Body != nil && in.Body.Reason != "" && o.Comment == "" {
				o.Comment = in.Body.Reason
			}
			return s.write(ctx, o, func(*state, *config.Config) (string, error) {
				return fmt.Sprintf("instance '%s' switched back", name), nil
			}, name)
		})
}

// History.

// Entry is one revision in history.
type Entry struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Who      string    `json:"who"`
	Comment  string    `json:"comment,omitempty"`
	Change   string    `json:"change"`
}

// RevisionState is a revision with what the API's layer and the overrides
// were then, and what it changed from the revision before it.
type RevisionState struct {
	Entry
	Config    config.Layer `json:"config"`
	Overrides Overrides    `json:"overrides"`
	// Changes are the objects that differ from the revision before, or
	// from the current one with ?against=current (what a rollback to this
	// revision would change); absent when that revision is no longer kept.
	Changes []ObjectChange `json:"changes,omitempty"`
}

type historyInput struct {
	Before uint64 `query:"before" doc:"list revisions older than this one"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	Who    string `query:"who" doc:"only changes made by this token"`
}

type historyOutput struct {
	ETag string `header:"ETag"`
	Body []Entry
}

type revisionInput struct {
	Revision uint64 `path:"revision" minimum:"1"`
	Against  string `query:"against" enum:"previous,current" default:"previous" doc:"compare with the revision before (what it changed) or with the current one (what a rollback would change)"`
}

type revisionOutput struct {
	ETag string `header:"ETag"`
	Body RevisionState
}

// RollbackBody names the revision to restore.
type RollbackBody struct {
	Revision uint64 `json:"revision" minimum:"1" doc:"the revision whose configuration and overrides become current again"`
}

type rollbackInput struct {
	WriteOptions
	Body RollbackBody
}

func entryOf(r store.Revision) Entry {
	return Entry{Revision: r.Rev, Time: r.Time, Who: r.Who, Comment: r.Comment, Change: r.Change}
}

func (s *Service) registerHistory(api huma.API) {
	tag := []string{"History"}
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "list-history", Method: http.MethodGet, Path: "/api/v1/history", Tags: tag,
		Summary: "List changes, newest first"}),
		func(ctx context.Context, in *historyInput) (*historyOutput, error) {
			s.mu.RLock()
			st, rev := s.st, s.rev
			s.mu.RUnlock()
			if st == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			out := &historyOutput{ETag: etag(rev), Body: []Entry{}}
			before := in.Before
			for len(out.Body) < in.Limit {
				revs, err := st.History(ctx, before, in.Limit)
				if err != nil {
					return nil, huma.Error500InternalServerError("store: " + err.Error())
				}
				for _, r := range revs {
					if in.Who == "" || r.Who == in.Who {
						out.Body = append(out.Body, entryOf(r))
					}
				}
				if len(revs) < in.Limit {
					break
				}
				before = revs[len(revs)-1].Rev
			}
			if len(out.Body) > in.Limit {
				out.Body = out.Body[:in.Limit]
			}
			return out, nil
		})
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-revision", Method: http.MethodGet, Path: "/api/v1/history/{revision}", Tags: tag,
		Summary: "Get a revision with the configuration and overrides it held"}),
		func(ctx context.Context, in *revisionInput) (*revisionOutput, error) {
			s.mu.RLock()
			st, rev := s.st, s.rev
			s.mu.RUnlock()
			if st == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			r, err := st.Get(ctx, in.Revision)
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error404NotFound(fmt.Sprintf("revision %d is not kept", in.Revision))
			}
			if err != nil {
				return nil, huma.Error500InternalServerError("store: " + err.Error())
			}
			data, err := decodeState(r.Data)
			if err != nil {
				return nil, huma.Error500InternalServerError(err.Error())
			}
			o := data.Overrides.lists()
			body := RevisionState{Entry: entryOf(r), Config: data.Config, Overrides: o}
			if in.Against == "current" {
				s.mu.RLock()
				cur := s.state
				s.mu.RUnlock()
				body.Changes = changes(cur, data)
			} else if in.Revision == 1 {
				body.Changes = changes(state{}, data)
			} else if p, err := st.Get(ctx, in.Revision-1); err == nil {
				if prev, err := decodeState(p.Data); err == nil {
					body.Changes = changes(prev, data)
				}
			}
			return &revisionOutput{ETag: etag(rev), Body: body}, nil
		})
	huma.Register(api, op(RoleAdmin, huma.Operation{OperationID: "rollback", Method: http.MethodPost, Path: "/api/v1/rollback", Tags: tag,
		Summary: "Make an earlier revision's configuration and overrides current, as a new revision"}),
		func(ctx context.Context, in *rollbackInput) (*WriteOutput, error) {
			s.mu.RLock()
			st := s.st
			s.mu.RUnlock()
			if st == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			r, err := st.Get(ctx, in.Body.Revision)
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error404NotFound(fmt.Sprintf("revision %d is not kept", in.Body.Revision))
			}
			if err != nil {
				return nil, huma.Error500InternalServerError("store: " + err.Error())
			}
			old, err := decodeState(r.Data)
			if err != nil {
				return nil, huma.Error500InternalServerError(err.Error())
			}
			return s.write(ctx, in.WriteOptions, func(next *state, cfg *config.Config) (string, error) {
				what := describe(*next, old)
				*next = old.clone()
				return fmt.Sprintf("rollback to revision %d: %s", in.Body.Revision, what), nil
			})
		})
}

// canonical writes an IP address as the configuration does (2001:db8::1
// for 2001:DB8:0::1 or [2001:db8::1]); a name stays as it is.
func canonical(a string) string {
	if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		return ip.Unmap().String()
	}
	return a
}
