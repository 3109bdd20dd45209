package alert

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("gtm")

// Options are a Dispatcher's settings; the zero value takes every default.
type Options struct {
	Node        string            // the body's "node"; default the host name
	QueueSize   int               // events waiting per webhook; default 1000
	Attempts    int               // attempts per delivery, the first included; default 8
	BackoffBase time.Duration     // delay before the first retry; default 1s, doubling
	BackoffMax  time.Duration     // cap on any delay, Retry-After included; default 1 min
	Transport   http.RoundTripper // default a clone of http.DefaultTransport, closed by Close; one given is the caller's to close
}

// The defaults of Options.
const (
	DefaultQueueSize   = 1000
	DefaultAttempts    = 8
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = time.Minute
)

// withDefaults fills o's zero fields, or says which field is out of range.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.QueueSize < 0:
		return o, fmt.Errorf("alert queue size %d is negative", o.QueueSize)
	case o.Attempts < 0:
		return o, fmt.Errorf("alert attempts %d is negative", o.Attempts)
	case o.BackoffBase < 0:
		return o, fmt.Errorf("alert backoff base %s is negative", o.BackoffBase)
	case o.BackoffMax < 0:
		return o, fmt.Errorf("alert backoff max %s is negative", o.BackoffMax)
	}
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Attempts == 0 {
		o.Attempts = DefaultAttempts
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffBase)
	}
	if o.BackoffBase > o.BackoffMax {
		return o, fmt.Errorf("alert backoff base %s is above the max %s", o.BackoffBase, o.BackoffMax)
	}
	return o, nil
}

// Dispatcher delivers events to a fixed set of webhooks. Its methods are
// safe for concurrent use.
type Dispatcher struct {
	opts   Options
	hooks  []*hook
	client *http.Client
	own    *http.Transport // the transport to close, when it is ours

	ctx       context.Context // cancelled by Close: ends waits and requests in flight
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// hook is one webhook's queue, state and delivery goroutine's settings.
type hook struct {
	cfg     Webhook
	filter  uint8
	url     string // redacted, for Status and logs
	timeout time.Duration
	m       hookMetrics
	wake    chan struct{} // a token: the queue may have events

	mu       sync.Mutex
	closed   bool    // set by Close: Send changes nothing any more
	buf      []Event // ring of waiting events, grown up to max
	head, n  int
	max      int
	dropping bool // dropped since the queue was last empty: warn once per burst
	st       WebhookStatus
}

// WebhookStatus is a webhook's state, for the API.
type WebhookStatus struct {
	Name            string    `json:"name"`
	URL             string    `json:"url"` // without credentials, query or fragment
	Events          []string  `json:"events"`
	Queued          int       `json:"queued"` // waiting, besides the one being delivered
	Delivered       uint64    `json:"delivered"`
	Failed          uint64    `json:"failed"`
	Dropped         uint64    `json:"dropped"`
	Attempts        uint64    `json:"attempts"`
	LastError       string    `json:"last-error,omitempty"`
	LastErrorTime   time.Time `json:"last-error-time,omitzero"`
	LastSuccessTime time.Time `json:"last-success-time,omitzero"`
}

// New validates hooks and opts and starts a delivery goroutine per webhook.
// Close stops them.
func New(hooks []Webhook, opts Options) (*Dispatcher, error) {
	if err := validate(hooks); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	initMetrics()
	d := &Dispatcher{opts: opts}
	rt := opts.Transport
	if rt == nil {
		d.own = http.DefaultTransport.(*http.Transport).Clone()
		rt = d.own
	}
	// A redirect is not followed: POST would become GET on 301/302, and a
	// receiver that moved should be reconfigured, not chased.
	d.client = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, w := range hooks {
		w.Events = slices.Clone(w.Events)
		u, _ := url.Parse(w.URL) // validated
		h := &hook{
			cfg: w, filter: w.filter(), url: redact(u), timeout: w.Timeout,
			m: publish(w.Name), wake: make(chan struct{}, 1), max: opts.QueueSize,
		}
		if h.timeout == 0 {
			h.timeout = DefaultTimeout
		}
		events := w.Events
		if len(events) == 0 {
			events = []string{KindSwitchover, KindAddress}
		}
		h.st = WebhookStatus{Name: w.Name, URL: h.url, Events: events}
		d.hooks = append(d.hooks, h)
	}
	d.wg.Add(len(d.hooks))
	for _, h := range d.hooks {
		go d.run(h)
	}
	return d, nil
}

// Send queues e for every webhook that wants its kind, and returns at once:
// it takes only each webhook's queue lock, never waits for a delivery. When
// a queue is full, its oldest event is dropped. An event of a kind no
// webhook asked for (or of no known kind) goes nowhere. After Close it does
// nothing. Send keeps its own copy of e.Pools.
func (d *Dispatcher) Send(e Event) {
	bit := kindBits[e.Kind]
	if bit == 0 {
		return
	}
	copied := false
	for _, h := range d.hooks {
		if h.filter&bit == 0 {
			continue
		}
		if !copied {
			// One copy, read only, shared by the webhooks' queues.
			e.Pools, copied = slices.Clone(e.Pools), true
		}
		h.push(e)
	}
}

func (h *hook) push(e Event) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	warn := false
	if h.n == h.max {
		h.buf[h.head] = Event{}
		h.head = (h.head + 1) % len(h.buf)
		h.n--
		h.st.Dropped++
		h.m.dropped.Inc()
		warn, h.dropping = !h.dropping, true
	}
	if h.n == len(h.buf) {
		// Grow: most queues never hold more than a few events, so the
		// full size is reserved only by a receiver that falls behind.
		grown := make([]Event, min(h.max, max(8, 2*len(h.buf))))
		for i := range h.n {
			grown[i] = h.buf[(h.head+i)%len(h.buf)]
		}
		h.buf, h.head = grown, 0
	}
	h.buf[(h.head+h.n)%len(h.buf)] = e
	h.n++
	h.mu.Unlock()
	if warn {
		log.Warningf("alert: webhook %q: queue of %d full, dropping the oldest events", h.cfg.Name, h.max)
	}
	select {
	case h.wake <- struct{}{}:
	default: // a token is already there
	}
}

// pop takes the oldest waiting event.
func (h *hook) pop() (Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		h.dropping = false
		return Event{}, false
	}
	e := h.buf[h.head]
	h.buf[h.head] = Event{} // let the Pools go
	h.head = (h.head + 1) % len(h.buf)
	h.n--
	return e, true
}

// run is h's delivery goroutine: one event at a time, in order.
func (d *Dispatcher) run(h *hook) {
	defer d.wg.Done()
	for {
		e, ok := h.pop()
		if !ok {
			select {
			case <-d.ctx.Done():
				return
			case <-h.wake:
			}
			continue
		}
		d.deliver(h, e)
		if d.ctx.Err() != nil {
			return
		}
	}
}

// Status is every webhook's state, in the order New was given them.
func (d *Dispatcher) Status() []WebhookStatus {
	out := make([]WebhookStatus, len(d.hooks))
	for i, h := range d.hooks {
		h.mu.Lock()
		out[i] = h.st
		out[i].Queued = h.n
		h.mu.Unlock()
		out[i].Events = slices.Clone(out[i].Events)
	}
	return out
}

// Close stops the dispatcher: Send does nothing any more, the request in
// flight is cancelled, waiting events are discarded, and every goroutine
// has ended when it returns. It may be called more than once.
func (d *Dispatcher) Close() {
	d.closeOnce.Do(func() {
		for _, h := range d.hooks {
			h.mu.Lock()
			h.closed = true
			h.mu.Unlock()
		}
		d.cancel()
		d.wg.Wait()
		if d.own != nil {
			d.own.CloseIdleConnections()
		}
		for _, h := range d.hooks {
			unpublish(h.cfg.Name)
		}
	})
}
