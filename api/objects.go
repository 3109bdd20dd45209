package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gtm-project/gtm/config"
)

// Owner says which layer holds an object: the Corefile (read-only here,
// with its file and line) or the API's store.
type Owner struct {
	Layer string `json:"layer" enum:"corefile,api"`
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
}

func ownerOf(p config.Pos) Owner {
	if p.Line > 0 {
		return Owner{Layer: "corefile", File: p.File, Line: p.Line}
	}
	return Owner{Layer: "api"}
}

// Monitor is a monitor with its owner.
type Monitor struct {
	config.MonitorJSON
	Owner Owner `json:"owner"`
}

// Pool is a pool with its owner.
type Pool struct {
	config.PoolJSON
	Owner Owner `json:"owner"`
}

// Instance is an instance with its owner.
type Instance struct {
	config.InstanceJSON
	Owner Owner `json:"owner"`
}

// kind describes one resource type (monitors, pools, instances) to the
// generic handlers.
type kind[D, V any] struct {
	plural, singular string
	// name is a document's name; norm makes a path's name a config name.
	name func(D) string
	norm func(string) string
	// list gives the layer's documents; set replaces them.
	list func(*config.Layer) *[]D
	// all lists the running configuration's objects as views.
	all func(*config.Config) []V
	// pos finds an object of the running configuration.
	pos func(*config.Config, string) (config.Pos, bool)
	// users lists what refers to the named object, which then cannot go.
	users func(*config.Config, string) []string
}

type nameInput struct {
	Name string `path:"name" maxLength:"255"`
}

type listOutput[V any] struct {
	ETag string `header:"ETag"`
	Body []V
}

type getOutput[V any] struct {
	ETag string `header:"ETag"`
	Body V
}

type putInput[D any] struct {
	Name string `path:"name" maxLength:"255"`
	WriteOptions
	Body D
}

type postInput[D any] struct {
	WriteOptions
	Body D
}

type deleteInput struct {
	Name string `path:"name" maxLength:"255"`
	WriteOptions
}

func registerKind[D, V any](s *Service, api huma.API, k kind[D, V]) {
	tag := []string{strings.ToUpper(k.plural[:1]) + k.plural[1:]}
	base := "/api/v1/" + k.plural
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "list-" + k.plural, Method: http.MethodGet, Path: base, Tags: tag,
		Summary: "List " + k.plural + " of both layers"}),
		func(ctx context.Context, _ *struct{}) (*listOutput[V], error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			if s.eng == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			return &listOutput[V]{ETag: etag(s.rev), Body: k.all(s.eng.Config())}, nil
		})
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-" + k.singular, Method: http.MethodGet, Path: base + "/{name}", Tags: tag,
		Summary: "Get a " + k.singular}),
		func(ctx context.Context, in *nameInput) (*getOutput[V], error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			if s.eng == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			name := k.norm(in.Name)
			for _, v := range k.all(s.eng.Config()) {
				if k.nameOfView(v) == name {
					return &getOutput[V]{ETag: etag(s.rev), Body: v}, nil
				}
			}
			return nil, huma.Error404NotFound(fmt.Sprintf("there is no %s '%s'", k.singular, name))
		})
	put := func(ctx context.Context, name string, doc D, o WriteOptions, create bool) (*WriteOutput, error) {
		created := false
		out, err := s.write(ctx, o, func(next *state, cfg *config.Config) (string, error) {
			if err := k.owned(cfg, name); err != nil {
				return "", err
			}
			docs := k.list(&next.Config)
			i := slices.IndexFunc(*docs, func(d D) bool { return k.norm(k.name(d)) == name })
			switch {
			case i >= 0 && create:
				return "", huma.Error409Conflict(fmt.Sprintf("%s '%s' exists: change it with PUT %s/%s", k.singular, name, base, name))
			case i >= 0:
				(*docs)[i] = doc
				return fmt.Sprintf("%s '%s' changed", k.singular, name), nil
			default:
				*docs = append(*docs, doc)
				created = true
				return fmt.Sprintf("%s '%s' created", k.singular, name), nil
			}
		})
		if out != nil {
			out.Status = http.StatusOK
			if created && !o.DryRun {
				out.Status = http.StatusCreated
			}
		}
		return out, err
	}
	huma.Register(api, op(RoleAdmin, huma.Operation{OperationID: "put-" + k.singular, Method: http.MethodPut, Path: base + "/{name}", Tags: tag,
		Summary: "Create or replace a " + k.singular + " of the API's layer"}),
		func(ctx context.Context, in *putInput[D]) (*WriteOutput, error) {
			name := k.norm(in.Name)
			if got := k.name(in.Body); got != "" && k.norm(got) != name {
				return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("the body names %s '%s' but the path '%s'", k.singular, got, name))
			}
			doc := k.withName(in.Body, name)
			return put(ctx, name, doc, in.WriteOptions, false)
		})
	huma.Register(api, op(RoleAdmin, huma.Operation{OperationID: "create-" + k.singular, Method: http.MethodPost, Path: base, Tags: tag,
		Summary: "Create a " + k.singular + " in the API's layer", DefaultStatus: http.StatusCreated}),
		func(ctx context.Context, in *postInput[D]) (*WriteOutput, error) {
			raw := k.name(in.Body)
			if raw == "" {
				return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("a %s needs a name", k.singular))
			}
			return put(ctx, k.norm(raw), k.withName(in.Body, k.norm(raw)), in.WriteOptions, true)
		})
	huma.Register(api, op(RoleAdmin, huma.Operation{OperationID: "delete-" + k.singular, Method: http.MethodDelete, Path: base + "/{name}", Tags: tag,
		Summary: "Delete a " + k.singular + " of the API's layer"}),
		func(ctx context.Context, in *deleteInput) (*WriteOutput, error) {
			name := k.norm(in.Name)
			return s.write(ctx, in.WriteOptions, func(next *state, cfg *config.Config) (string, error) {
				if err := k.owned(cfg, name); err != nil {
					return "", err
				}
				docs := k.list(&next.Config)
				i := slices.IndexFunc(*docs, func(d D) bool { return k.norm(k.name(d)) == name })
				if i < 0 {
					return "", huma.Error404NotFound(fmt.Sprintf("there is no %s '%s'", k.singular, name))
				}
				if users := k.users(cfg, name); len(users) > 0 {
					return "", huma.Error409Conflict(fmt.Sprintf("%s '%s' is used by %s: change or delete those first", k.singular, name, strings.Join(users, ", ")))
				}
				*docs = slices.Delete(*docs, i, i+1)
				return fmt.Sprintf("%s '%s' deleted", k.singular, name), nil
			})
		})
}

// owned refuses a change of an object the Corefile defines.
func (k kind[D, V]) owned(cfg *config.Config, name string) error {
	if p, ok := k.pos(cfg, name); ok && p.Line > 0 {
		return huma.Error409Conflict(fmt.Sprintf("%s '%s' is defined in the Corefile (%s, line %d): change it there", k.singular, name, p.File, p.Line))
	}
	return nil
}

func (k kind[D, V]) nameOfView(v V) string {
	switch v := any(v).(type) {
	case Monitor:
		return v.Name
	case Pool:
		return v.Name
	case Instance:
		return v.Name
	}
	return ""
}

// withName sets a body's name to the (normalized) name it is stored under.
func (k kind[D, V]) withName(d D, name string) D {
	switch v := any(&d).(type) {
	case *config.MonitorJSON:
		v.Name = name
	case *config.PoolJSON:
		v.Name = name
	case *config.InstanceJSON:
		v.Name = name
	}
	return d
}

func same(s string) string { return s }

var monitors = kind[config.MonitorJSON, Monitor]{
	plural: "monitors", singular: "monitor",
	name: func(d config.MonitorJSON) string { return d.Name }, norm: same,
	list: func(l *config.Layer) *[]config.MonitorJSON { return &l.Monitors },
	all: func(c *config.Config) []Monitor {
		out := make([]Monitor, 0, len(c.Monitors))
		for _, m := range c.Monitors {
			out = append(out, Monitor{MonitorJSON: config.MonitorDoc(m), Owner: ownerOf(m.Pos)})
		}
		return out
	},
	pos: func(c *config.Config, name string) (config.Pos, bool) {
		for _, m := range c.Monitors {
			if m.Name == name {
				return m.Pos, true
			}
		}
		return config.Pos{}, false
	},
	users: func(c *config.Config, name string) []string {
		var out []string
		for _, p := range c.Pools {
			uses := p.Monitor == name
			for _, a := range p.Addresses {
				uses = uses || a.Monitor == name
			}
			if uses {
				out = append(out, "pool '"+p.Name+"'")
			}
		}
		return out
	},
}

var pools = kind[config.PoolJSON, Pool]{
	plural: "pools", singular: "pool",
	name: func(d config.PoolJSON) string { return d.Name }, norm: same,
	list: func(l *config.Layer) *[]config.PoolJSON { return &l.Pools },
	all: func(c *config.Config) []Pool {
		out := make([]Pool, 0, len(c.Pools))
		for _, p := range c.Pools {
			out = append(out, Pool{PoolJSON: config.PoolDoc(p), Owner: ownerOf(p.Pos)})
		}
		return out
	},
	pos: func(c *config.Config, name string) (config.Pos, bool) {
		if p := c.Pool(name); p != nil {
			return p.Pos, true
		}
		return config.Pos{}, false
	},
	users: func(c *config.Config, name string) []string {
		var out []string
		for _, in := range c.Instances {
			if slices.Contains(in.PoolNames(), name) {
				out = append(out, "instance '"+in.Name+"'")
			}
		}
		return out
	},
}

var instances = kind[config.InstanceJSON, Instance]{
	plural: "instances", singular: "instance",
	name: func(d config.InstanceJSON) string { return d.Name }, norm: config.Fqdn,
	list: func(l *config.Layer) *[]config.InstanceJSON { return &l.Instances },
	all: func(c *config.Config) []Instance {
		out := make([]Instance, 0, len(c.Instances))
		for _, in := range c.Instances {
			out = append(out, Instance{InstanceJSON: config.InstanceDoc(in), Owner: ownerOf(in.Pos)})
		}
		return out
	},
	pos: func(c *config.Config, name string) (config.Pos, bool) {
		if in := c.Instance(name); in != nil {
			return in.Pos, true
		}
		return config.Pos{}, false
	},
	users: func(*config.Config, string) []string { return nil },
}
