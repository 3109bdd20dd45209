package alert

import (
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	ok := Webhook{Name: "ops", URL: "https://hooks.example.net/gtm"}
	tests := []struct {
		name  string
		hooks []Webhook
		opts  Options
		err   string // "" for valid
	}{
		// positive
		{"none", nil, Options{}, ""},
		{"plain", []Webhook{ok}, Options{}, ""},
		{"every kind, secret, timeout", []Webhook{{Name: "a.b_c-1", URL: "http://127.0.0.1:9/x?token=t", Secret: "s",
			Events: []string{"address", "switchover", "config", "override"}, Timeout: time.Second}}, Options{}, ""},
		{"credentials and port", []Webhook{{Name: "x", URL: "https://u:p@[::1]:8443/hook"}}, Options{}, ""},
		{"two", []Webhook{ok, {Name: "pager", URL: "http://pager.example.net"}}, Options{}, ""},
		{"small settings", []Webhook{ok}, Options{QueueSize: 1, Attempts: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}, ""},
		// negative
		{"no name", []Webhook{{URL: "http://a"}}, Options{}, "webhook name is empty"},
		{"name with a space", []Webhook{{Name: "my hook", URL: "http://a"}}, Options{}, `webhook "my hook": name may hold only letters, digits`},
		{"name with a slash", []Webhook{{Name: "a/b", URL: "http://a"}}, Options{}, `webhook "a/b": name may hold only`},
		{"long name", []Webhook{{Name: strings.Repeat("a", 65), URL: "http://a"}}, Options{}, "longer than 64"},
		{"duplicate", []Webhook{ok, ok}, Options{}, `webhook "ops": name is used by another webhook`},
		{"no url", []Webhook{{Name: "ops"}}, Options{}, `webhook "ops": url is empty`},
		{"ftp", []Webhook{{Name: "ops", URL: "ftp://files.example.net/x"}}, Options{}, `webhook "ops": url ftp://files.example.net/x: scheme must be http or https, not "ftp"`},
		{"relative", []Webhook{{Name: "ops", URL: "/hook"}}, Options{}, `webhook "ops": url /hook: scheme must be http or https`},
		{"no host", []Webhook{{Name: "ops", URL: "http:///hook"}}, Options{}, `webhook "ops": url http:///hook: has no host`},
		{"port only", []Webhook{{Name: "ops", URL: "http://:80/hook"}}, Options{}, "has no host"},
		{"unparsable", []Webhook{{Name: "ops", URL: "http://a b.example/"}}, Options{}, `webhook "ops": url is not a URL`},
		{"fragment", []Webhook{{Name: "ops", URL: "http://a/#x"}}, Options{}, "a fragment is never sent"},
		{"unknown kind", []Webhook{{Name: "ops", URL: "http://a", Events: []string{"address", "deploy"}}}, Options{}, `webhook "ops": unknown event kind "deploy"`},
		{"kind in capitals", []Webhook{{Name: "ops", URL: "http://a", Events: []string{"Address"}}}, Options{}, `unknown event kind "Address"`},
		{"negative timeout", []Webhook{{Name: "ops", URL: "http://a", Timeout: -time.Second}}, Options{}, `webhook "ops": timeout -1s is negative`},
		{"negative queue", []Webhook{ok}, Options{QueueSize: -1}, "queue size -1 is negative"},
		{"negative attempts", []Webhook{ok}, Options{Attempts: -1}, "attempts -1 is negative"},
		{"negative base", []Webhook{ok}, Options{BackoffBase: -1}, "backoff base -1ns is negative"},
		{"negative max", []Webhook{ok}, Options{BackoffMax: -1}, "backoff max -1ns is negative"},
		{"base above max", []Webhook{ok}, Options{BackoffBase: time.Minute, BackoffMax: time.Second}, "backoff base 1m0s is above the max 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.hooks, tc.opts)
			if d != nil {
				d.Close()
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q, want it to say %q", err, tc.err)
			}
		})
	}
}

// Errors never show the credentials or query a URL carries.
func TestValidateHidesCredentials(t *testing.T) {
	err := Webhook{Name: "ops", URL: "ftp://user:hunter2@files.example.net/x?token=abc"}.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "abc") {
		t.Fatalf("error shows a secret: %v", err)
	}
}

// The defaults are what the package doc says.
func TestDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.QueueSize != 1000 || o.Attempts != 8 || o.BackoffBase != time.Second || o.BackoffMax != time.Minute || o.Node == "" {
		t.Fatalf("defaults %+v", o)
	}
	d, err := New([]Webhook{{Name: "ops", URL: "http://a"}, {Name: "cfg", URL: "http://a", Events: []string{"config"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := d.Status()
	if got := strings.Join(st[0].Events, ","); got != "switchover,address" {
		t.Errorf("default kinds %s, want switchover,address", got)
	}
	if got := strings.Join(st[1].Events, ","); got != "config" {
		t.Errorf("kinds %s, want config", got)
	}
	if d.hooks[0].timeout != 5*time.Second {
		t.Errorf("timeout %s, want 5s", d.hooks[0].timeout)
	}
}
