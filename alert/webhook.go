package alert

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// The kinds of event.
const (
	KindAddress    = "address"    // an address went up or down
	KindSwitchover = "switchover" // an instance's active collection changed
	KindConfig     = "config"     // a configuration was applied
	KindOverride   = "override"   // an operator's override changed
)

// Event is one of gtm's events as webhooks receive it. The API layer
// converts the engine's events into it; Seq orders them on one node.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Object   string    `json:"object"` // "address site-a/192.0.2.1", "instance www.example.org."
	Old      string    `json:"old"`
	New      string    `json:"new"`
	Reason   string    `json:"reason,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Address  string    `json:"address,omitempty"`
	Pools    []string  `json:"pools,omitempty"`
}

// Webhook is one receiver of events.
type Webhook struct {
	Name    string        // unique among a dispatcher's webhooks; letters, digits, '.', '_', '-'
	URL     string        // http or https, with a host; credentials in it are sent as basic auth
	Secret  string        // optional: when set, requests are signed (see the package doc)
	Events  []string      // kinds to send; empty means switchover and address
	Timeout time.Duration // per attempt; 0 means DefaultTimeout
}

// DefaultTimeout is an attempt's timeout when the webhook sets none.
const DefaultTimeout = 5 * time.Second

// maxName bounds a name, which becomes a metric label and a JSON field.
const maxName = 64

// kindBits are the kinds a webhook may ask for, as bits of a filter.
var kindBits = map[string]uint8{KindAddress: 1, KindSwitchover: 2, KindConfig: 4, KindOverride: 8}

// defaultKinds is the filter of a webhook that names no kinds: what an
// operator is paged for, not the changes the operator made.
const defaultKinds = 1 | 2

// Validate checks w alone; New also checks that names are unique. Errors
// name the webhook and the rule it breaks.
func (w Webhook) Validate() error {
	if err := validName(w.Name); err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("webhook %q: "+format, append([]any{w.Name}, args...)...)
	}
	if w.URL == "" {
		return fail("url is empty")
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		// url.Error repeats the URL, which may hold credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail("url is not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fail("url %s: scheme must be http or https, not %q", redact(u), u.Scheme)
	}
	if u.Hostname() == "" {
		return fail("url %s: has no host", redact(u))
	}
	if u.Fragment != "" {
		return fail("url %s: a fragment is never sent, remove it", redact(u))
	}
	for _, k := range w.Events {
		if kindBits[k] == 0 {
			return fail("unknown event kind %q (known: address, switchover, config, override)", k)
		}
	}
	if w.Timeout < 0 {
		return fail("timeout %s is negative", w.Timeout)
	}
	return nil
}

func validName(name string) error {
	if name == "" {
		return errors.New("webhook name is empty")
	}
	if len(name) > maxName {
		return fmt.Errorf("webhook %q: name is longer than %d characters", name, maxName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("webhook %q: name may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// filter is w's kinds as bits; w is valid.
func (w Webhook) filter() uint8 {
	if len(w.Events) == 0 {
		return defaultKinds
	}
	var f uint8
	for _, k := range w.Events {
		f |= kindBits[k]
	}
	return f
}

// redact is u as it may be shown: without credentials, query or fragment,
// where tokens are usually carried.
func redact(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return v.String()
}

// validate checks every webhook and that their names are unique.
func validate(hooks []Webhook) error {
	seen := make(map[string]bool, len(hooks))
	for _, w := range hooks {
		if err := w.Validate(); err != nil {
			return err
		}
		if seen[w.Name] {
			return fmt.Errorf("webhook %q: name is used by another webhook", w.Name)
		}
		seen[w.Name] = true
	}
	return nil
}
