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
	"github.com/gtm-project/gtm/alert"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
)

// StatusBody is the block's state now: every instance's rules (active
// collection and why, degraded or not, the TTL served), every pool and
// address (verdict, since when, last probe, latency, mode and override),
// the operators' overrides with who set them, and the webhooks.
type StatusBody struct {
	Revision uint64 `json:"revision" doc:"the store's revision the answers come from"`
	engine.Status
	Overrides Overrides             `json:"overrides"`
	Alerts    []alert.WebhookStatus `json:"alerts"`
	Store     StoreStatus           `json:"store" doc:"the store, and whether this node reaches it"`
}

type statusOutput struct {
	ETag string `header:"ETag"`
	Body StatusBody
}

type instanceStatusOutput struct {
	ETag string `header:"ETag"`
	Body engine.InstanceStatus
}

type poolStatusOutput struct {
	ETag string `header:"ETag"`
	Body engine.PoolStatus
}

type explainInput struct {
	Name   string `query:"name" required:"true" maxLength:"255" doc:"the instance"`
	Client string `query:"client" required:"true" maxLength:"64" doc:"an address (as a query's source) or a subnet (as an ECS option)"`
}

type explainOutput struct {
	ETag string `header:"ETag"`
	Body ExplainBody
}

// ExplainBody is the engine's explanation with the operators' overrides
// that bear on it, with who set them and why.
type ExplainBody struct {
	engine.Explanation
	Overrides Overrides `json:"overrides"`
}

// ParseClient reads an address or a subnet.
func ParseClient(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("client '%s' is not an address or a subnet like 198.51.100.0/24", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("client '%s' is not an address or a subnet like 198.51.100.0/24", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (s *Service) registerStatus(api huma.API) {
	tag := []string{"Status"}
	running := func() (*engine.Engine, uint64, Overrides, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.eng == nil {
			return nil, 0, Overrides{}, huma.Error503ServiceUnavailable("the API is not running")
		}
		return s.eng, s.rev, s.state.Overrides, nil
	}
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-status", Method: http.MethodGet, Path: "/api/v1/status", Tags: tag,
		Summary: "Every instance's, pool's and address's state now"}),
		func(ctx context.Context, _ *struct{}) (*statusOutput, error) {
			e, rev, o, err := running()
			if err != nil {
				return nil, err
			}
			body := StatusBody{Revision: rev, Status: e.Status(), Overrides: o.lists(), Alerts: []alert.WebhookStatus{}, Store: s.storeStatus()}
			if d := s.alerts.get(); d != nil {
				body.Alerts = d.Status()
			}
			return &statusOutput{ETag: etag(rev), Body: body}, nil
		})
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-instance-status", Method: http.MethodGet, Path: "/api/v1/status/instances/{name}", Tags: tag,
		Summary: "One instance's state now"}),
		func(ctx context.Context, in *nameInput) (*instanceStatusOutput, error) {
			e, rev, _, err := running()
			if err != nil {
				return nil, err
			}
			st, ok := e.InstanceStatus(in.Name)
			if !ok {
				return nil, huma.Error404NotFound(fmt.Sprintf("there is no instance '%s'", config.Fqdn(in.Name)))
			}
			return &instanceStatusOutput{ETag: etag(rev), Body: st}, nil
		})
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-pool-status", Method: http.MethodGet, Path: "/api/v1/status/pools/{name}", Tags: tag,
		Summary: "One pool's state now"}),
		func(ctx context.Context, in *nameInput) (*poolStatusOutput, error) {
			e, rev, _, err := running()
			if err != nil {
				return nil, err
			}
			st, ok := e.PoolStatus(in.Name)
			if !ok {
				return nil, huma.Error404NotFound(fmt.Sprintf("there is no pool '%s'", in.Name))
			}
			return &poolStatusOutput{ETag: etag(rev), Body: st}, nil
		})
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "explain", Method: http.MethodGet, Path: "/api/v1/explain", Tags: tag,
		Summary:     "Why a client gets what it gets: the decision the DNS explain query gives, as data",
		Description: "The answer is drawn as a query's would be, but not counted."}),
		func(ctx context.Context, in *explainInput) (*explainOutput, error) {
			e, rev, o, err := running()
			if err != nil {
				return nil, err
			}
			client, err := ParseClient(in.Client)
			if err != nil {
				return nil, huma.Error422UnprocessableEntity(err.Error())
			}
			x, err := e.Explain(in.Name, client)
			if errors.Is(err, engine.ErrNoInstance) {
				return nil, huma.Error404NotFound(fmt.Sprintf("there is no instance '%s'", config.Fqdn(in.Name)))
			}
			if err != nil {
				return nil, huma.Error422UnprocessableEntity(err.Error())
			}
			body := ExplainBody{Explanation: x, Overrides: Overrides{Addresses: []AddressOverride{}, Pins: []PinOverride{}}}
			if inst := e.Config().Instance(x.Instance); inst != nil {
				pools := inst.PoolNames()
				for _, a := range o.Addresses {
					if slices.Contains(pools, a.Pool) {
						body.Overrides.Addresses = append(body.Overrides.Addresses, a)
					}
				}
				for _, p := range o.Pins {
					if p.Instance == inst.Name {
						body.Overrides.Pins = append(body.Overrides.Pins, p)
					}
				}
			}
			return &explainOutput{ETag: etag(rev), Body: body}, nil
		})
}

type trafficInput struct {
	Name  string    `path:"name" maxLength:"255"`
	Since time.Time `query:"since" doc:"minutes starting at or after this time (RFC 3339); default the last 24 hours"`
}

type trafficOutput struct {
	ETag string `header:"ETag"`
	Body []engine.Minute
}

func (s *Service) registerTraffic(api huma.API) {
	tag := []string{"Status"}
	get := func(kind string, exists func(*config.Config, string) bool, read func(*engine.Engine, string, time.Time) []engine.Minute) func(context.Context, *trafficInput) (*trafficOutput, error) {
		return func(ctx context.Context, in *trafficInput) (*trafficOutput, error) {
			s.mu.RLock()
			e, rev := s.eng, s.rev
			s.mu.RUnlock()
			if e == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			if !exists(e.Config(), in.Name) {
				return nil, huma.Error404NotFound(fmt.Sprintf("there is no %s '%s'", kind, in.Name))
			}
			since := in.Since
			if since.IsZero() {
				since = time.Now().Add(-24 * time.Hour)
			}
			out := &trafficOutput{ETag: etag(rev), Body: read(e, in.Name, since)}
			if out.Body == nil {
				out.Body = []engine.Minute{}
			}
			return out, nil
		}
	}
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-instance-traffic", Method: http.MethodGet, Path: "/api/v1/traffic/instances/{name}", Tags: tag,
		Summary: "Answers of an instance per minute and pool, for the last 24 hours"}),
		get("instance", func(c *config.Config, n string) bool { return c.Instance(config.Fqdn(n)) != nil },
			func(e *engine.Engine, n string, t time.Time) []engine.Minute { return e.Traffic(config.Fqdn(n), t) }))
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-pool-traffic", Method: http.MethodGet, Path: "/api/v1/traffic/pools/{name}", Tags: tag,
		Summary: "Answers from a pool per minute, for the last 24 hours"}),
		get("pool", func(c *config.Config, n string) bool { return c.Pool(n) != nil },
			func(e *engine.Engine, n string, t time.Time) []engine.Minute { return e.TrafficPool(n, t) }))
}
