package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"
	"github.com/gtm-project/gtm/alert"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/store"
)

// EventFilter selects events; empty fields select all.
type EventFilter struct {
	Instance string    `query:"instance" maxLength:"255" doc:"events concerning this instance"`
	Pool     string    `query:"pool" maxLength:"255" doc:"events concerning this pool"`
	Address  string    `query:"address" maxLength:"255" doc:"events concerning this address"`
	Kind     string    `query:"kind" enum:"address,switchover,config,override,probe,node," doc:"one kind of event"`
	Since    time.Time `query:"since" doc:"events at or after this time (RFC 3339)"`
	Until    time.Time `query:"until" doc:"events before this time (RFC 3339)"`
}

func (f *EventFilter) match(e *health.Event) bool {
	if f.Kind != "" && e.Kind != f.Kind {
		return false
	}
	if f.Instance != "" && !slices.Contains(e.Instances, config.Fqdn(f.Instance)) {
		return false
	}
	if f.Pool != "" && !slices.Contains(e.Pools, f.Pool) {
		return false
	}
	if f.Address != "" && !slices.Contains(e.Addresses, canonical(f.Address)) {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	return true
}

// ours reports whether an event concerns this block: events are the
// process's, and the instances of other zones, or pools this block does
// not have, belong to another block's API.
func (s *Service) ours(e *health.Event) bool {
	if len(e.Zones) > 0 {
		return slices.Equal(e.Zones, s.base.Zones)
	}
	if len(e.Instances) > 0 {
		for _, name := range e.Instances {
			for _, z := range s.base.Zones {
				if name == z || strings.HasSuffix(name, "."+z) {
					return true
				}
			}
		}
		return false
	}
	if len(e.Pools) > 0 {
		s.mu.RLock()
		eng := s.eng
		s.mu.RUnlock()
		if eng == nil {
			return false
		}
		cfg := eng.Config()
		for _, p := range e.Pools {
			if cfg.Pool(p) != nil {
				return true
			}
		}
		return false
	}
	return true
}

type eventsInput struct {
	EventFilter
	Before uint64 `query:"before" doc:"events older than this seq (paging)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type eventsOutput struct {
	ETag string `header:"ETag"`
	Body []LoggedEvent
}

// LoggedEvent is an event as the store's log keeps it; its seq is the
// log's order, not the process's (which the stream uses).
type LoggedEvent struct {
	store.Event
}

type streamInput struct {
	EventFilter
	LastEventID uint64 `header:"Last-Event-ID" doc:"resume after this event's seq"`
}

// Ping is sent on an idle stream every StreamPing, so that proxies and
// browsers keep it open.
type Ping struct {
	Time time.Time `json:"time"`
}

// StreamPing is how often an idle event stream is pinged.
var StreamPing = 15 * time.Second

func (s *Service) registerEvents(api huma.API) {
	tag := []string{"Events"}
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "list-events", Method: http.MethodGet, Path: "/api/v1/events", Tags: tag,
		Summary:     "List events (health changes, switchovers, configuration changes, overrides) from the store's log, newest first",
		Description: "The log keeps the newest 10,000 events across restarts; seq is the log's own order."}),
		func(ctx context.Context, in *eventsInput) (*eventsOutput, error) {
			s.mu.RLock()
			st, rev := s.st, s.rev
			s.mu.RUnlock()
			if st == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			f := store.EventFilter{Pool: in.Pool, Address: canonical(in.Address), Kind: in.Kind, Since: in.Since, Until: in.Until, Before: in.Before, Limit: in.Limit}
			if in.Instance != "" {
				f.Instance = config.Fqdn(in.Instance)
			}
			evs, err := st.Events(ctx, f)
			if err != nil {
				return nil, huma.Error500InternalServerError("event log: " + err.Error())
			}
			out := &eventsOutput{ETag: etag(rev), Body: make([]LoggedEvent, 0, len(evs))}
			for _, e := range evs {
				out.Body = append(out.Body, LoggedEvent{e})
			}
			return out, nil
		})
	sse.Register(api, op(RoleViewer, huma.Operation{OperationID: "stream-events", Method: http.MethodGet, Path: "/api/v1/events/stream", Tags: tag,
		Summary: "Follow events as they happen (Server-Sent Events); resumes after Last-Event-ID"}),
		map[string]any{"event": health.Event{}, "ping": Ping{}},
		func(ctx context.Context, in *streamInput, send sse.Sender) {
			sub := engine.Subscribe(1024)
			defer sub.Close()
			// A first message sends the headers: a client knows at once
			// that it follows.
			if send.Data(Ping{Time: time.Now().UTC()}) != nil {
				return
			}
			last := in.LastEventID
			emit := func(e *health.Event) bool {
				if e.Seq <= last {
					return true
				}
				last = e.Seq
				if !s.ours(e) || !in.match(e) {
					return true
				}
				return send(sse.Message{ID: int(e.Seq), Data: *e}) == nil
			}
			if in.LastEventID > 0 {
				for _, e := range engine.EventsSince(in.LastEventID) {
					if !emit(&e) {
						return
					}
				}
			}
			stop := s.streamsDone()
			tick := time.NewTicker(StreamPing)
			defer tick.Stop()
			for {
				select {
				case e, ok := <-sub.C:
					if !ok || !emit(&e) {
						return
					}
				case now := <-tick.C:
					if send.Data(Ping{Time: now.UTC()}) != nil {
						return
					}
				case <-ctx.Done():
					return
				case <-stop:
					return
				}
			}
		})
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "list-alerts", Method: http.MethodGet, Path: "/api/v1/alerts", Tags: []string{"Alerts"},
		Summary: "Webhooks and their deliveries"}),
		func(ctx context.Context, _ *struct{}) (*alertsOutput, error) {
			s.mu.RLock()
			rev := s.rev
			s.mu.RUnlock()
			out := &alertsOutput{ETag: etag(rev), Body: []alert.WebhookStatus{}}
			if d := s.alerts.get(); d != nil {
				out.Body = d.Status()
			}
			return out, nil
		})
}

type alertsOutput struct {
	ETag string `header:"ETag"`
	Body []alert.WebhookStatus
}

// streams ends event streams when the listener closes (a reload's pause),
// which http.Server.Shutdown does not do by itself.
type streams struct {
	mu   sync.Mutex
	done chan struct{}
}

func (s *Service) streamsDone() <-chan struct{} {
	s.str.mu.Lock()
	defer s.str.mu.Unlock()
	if s.str.done == nil {
		s.str.done = make(chan struct{})
	}
	return s.str.done
}

func (s *Service) endStreams() {
	s.str.mu.Lock()
	defer s.str.mu.Unlock()
	if s.str.done != nil {
		close(s.str.done)
		s.str.done = nil
	}
}

// dispatcher holds the block's alert dispatcher while the API serves.
type dispatcher struct {
	mu sync.Mutex
	d  *alert.Dispatcher
}

func (d *dispatcher) get() *alert.Dispatcher {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.d
}

// webhooks converts the Corefile's webhooks, checking each.
func webhooks(set *config.API) ([]alert.Webhook, error) {
	var out []alert.Webhook
	for _, w := range set.Webhooks {
		aw := alert.Webhook{Name: w.Name, URL: w.URL, Secret: w.Secret, Events: w.Events, Timeout: w.Timeout}
		if err := aw.Validate(); err != nil {
			return nil, w.Errorf("api: %v", err)
		}
		out = append(out, aw)
	}
	return out, nil
}

// pump forwards the process's events to the store's event log (in
// batches: a commit costs two syncs, whatever it holds) and to the
// webhooks, until stop closes. It first records what the process's history
// holds that this store has not seen, so that the events of a start or a
// reload are kept too.
func (s *Service) pump(sub *health.Subscription, d *alert.Dispatcher, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer sub.Close()
	var batch []store.Event
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := s.st.AppendEvents(ctx, batch); err != nil {
			log.Errorf("api: event log: %v", err)
		}
		cancel()
		batch = batch[:0]
	}
	take := func(e *health.Event) {
		if !s.ours(e) {
			return
		}
		if ch := s.clusterHealth(); ch != nil {
			// A cluster records each of its events once: the elected node
			// records what every node sees alike, each node what concerns
			// it alone, and no one its own probes' votes.
			switch e.Kind {
			case health.KindProbe:
				return
			case health.KindNode:
			default:
				if !ch.leader.Load() {
					return
				}
			}
		}
		if !s.st.recorded(e.Seq) {
			return
		}
		batch = append(batch, storeEvent(e, s.node))
		if d != nil {
			ae := alert.Event{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Object: e.Object, Old: e.Old, New: e.New,
				Reason: e.Reason, Rule: e.Rule, Pools: e.Pools}
			if len(e.Instances) > 0 {
				ae.Instance = e.Instances[0]
			}
			if len(e.Addresses) > 0 {
				ae.Address = e.Addresses[0]
			}
			d.Send(ae)
		}
	}
	for _, e := range engine.EventsSince(0) {
		take(&e)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				flush()
				return
			}
			take(&e)
			if len(batch) >= 100 {
				flush()
			}
		case <-tick.C:
			flush()
		case <-stop:
			flush()
			return
		}
	}
}

// storeEvent is e as the log keeps it, with the node it happened on: nodes
// that share a store share its log.
func storeEvent(e *health.Event, node string) store.Event {
	return store.Event{Time: e.Time, Kind: e.Kind, Object: e.Object, Old: e.Old, New: e.New, Reason: e.Reason,
		Instances: e.Instances, Rule: e.Rule, Pools: e.Pools, Addresses: e.Addresses, Node: node}
}

// startPump starts the event pump and the webhooks' dispatcher, if any;
// stopPump ends them.
func (s *Service) startPump() error {
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	if s.pumpStop != nil {
		return nil
	}
	var d *alert.Dispatcher
	if len(s.hooks) > 0 {
		var err error
		if d, err = alert.New(s.hooks, alert.Options{}); err != nil {
			return err
		}
	}
	s.alerts.d = d
	s.pumpStop, s.pumpDone = make(chan struct{}), make(chan struct{})
	go s.pump(engine.Subscribe(4096), d, s.pumpStop, s.pumpDone)
	return nil
}

func (s *Service) stopPump() {
	s.alerts.mu.Lock()
	d := s.alerts.d
	stop, done := s.pumpStop, s.pumpDone
	s.alerts.d, s.pumpStop, s.pumpDone = nil, nil, nil
	s.alerts.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	if d != nil {
		d.Close()
	}
}
