package config

import (
	"encoding/json"
	"strings"
	"testing"
)

const exampleJSON = `{
  "zones": ["example.org."],
  "ns": [{"name": "ns1.example.org.", "addresses": ["192.0.2.53"]}],
  "monitors": [{"name": "web", "protocol": "https", "interval": "5s", "path": "/healthz", "expect": ["200-299", "301"]}],
  "pools": [
    {"name": "a", "addresses": [{"address": "192.0.2.1", "weight": 10}, {"address": "192.0.2.2", "mode": "down"}],
     "method": "weight", "min-available": "50%", "monitor": "web"},
    {"name": "b", "addresses": [{"address": "198.51.100.1"}]}
  ],
  "instances": [{"name": "www.example.org.", "ttl": 60, "switch": "auto", "all-down": "fallback", "fallback": ["203.0.113.1"],
    "rules": [{"match": "default", "primary": {"pools": [{"pool": "a"}]}, "secondary": {"pools": [{"pool": "b", "weight": 3}]}},
              {"match": "cidr", "values": ["10.0.0.0/8"], "primary": {"pools": [{"pool": "b"}]}}]}]
}`

func TestParseJSON(t *testing.T) {
	c, err := ParseJSON([]byte(exampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pools[0]
	if p.Type != TypeA || p.Method != MethodWeight || p.MinAvailable.Percent != 50 || p.Addresses[0].Weight != 10 ||
		p.Addresses[1].Weight != DefaultWeight || p.Addresses[1].Mode != ModeDown {
		t.Errorf("pool read wrong: %+v", p)
	}
	m := c.Monitors[0]
	if m.Interval.Seconds() != 5 || m.Timeout != DefaultTimeout || m.Rise != DefaultRise || m.Method != DefaultMethod || len(m.Expect) != 2 {
		t.Errorf("monitor read wrong: %+v", m)
	}
	in := c.Instances[0]
	if in.TTL != 60 || in.TiePercent != DefaultTiePercent || in.AllDown != Fallback || len(in.Fallbacks) != 1 ||
		in.Rules[1].Match != MatchCIDR || in.Rules[0].Secondary.Members[0].Weight != 3 {
		t.Errorf("instance read wrong: %+v", in)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if byValue, err := json.Marshal(*c); err != nil || string(byValue) != string(out) {
		t.Errorf("a Config and a *Config marshal differently (%v):\n%s\n%s", err, byValue, out)
	}
	back, err := ParseJSON(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if back.Fingerprint() != c.Fingerprint() {
		t.Errorf("round trip changed the configuration:\n%s", out)
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct{ name, edit, err string }{
		{"unknown field", `"method": "weight"` + "|" + `"method": "weight", "colour": "red"`, `json: $.pools[0]: unknown field "colour"`},
		{"type", `"weight": 10` + "|" + `"weight": "ten"`, `json: $.pools[0].addresses[0].weight: "ten" is not a whole number`},
		{"enum", `"method": "weight"` + "|" + `"method": "random"`, `json: $.pools[0].method: unknown method 'random' (one of all, weight, sequence, hash)`},
		{"duration", `"interval": "5s"` + "|" + `"interval": "soon"`, `json: $.monitors[0].interval: 'soon' is not a duration`},
		{"threshold", `"min-available": "50%"` + "|" + `"min-available": 2`, `json: $.pools[0].min-available: the number 2 is not a string`},
		{"ttl", `"ttl": 60` + "|" + `"ttl": -1`, `$.instances[0].ttl: the number -1 is not a whole number from 0 to 4294967295`},
		{"address", `"address": "192.0.2.2"` + "|" + `"address": "300.1.1.1"`, `$.pools[0].addresses[1]: '300.1.1.1' is neither an IP address nor a domain name`},
		{"validation", `"weight": 10` + "|" + `"weight": 1000`, `$.pools[0].addresses[0]: weight 1000 of address 192.0.2.1 is out of range (1 to 100)`},
		{"applicability", `"path": "/healthz"` + "|" + `"path": "/healthz", "count": 5`, `$.monitors[0].count: option 'count' does not apply to a https monitor ('web')`},
		{"reference", `{"pool": "b", "weight": 3}` + "|" + `{"pool": "c", "weight": 3}`, `$.instances[0].rules[0].secondary.pools[0]: unknown pool 'c'`},
		{"https port 0", `"ttl": 60` + "|" + `"ttl": 60, "https": {"alpn": ["h2"], "port": 0}`, `$.instances[0].https.port: port 0 is not a port from 1 to 65535`},
		{"https unknown param", `"ttl": 60` + "|" + `"ttl": 60, "https": {"mandatory": ["alpn"]}`, `json: $.instances[0].https: unknown field "mandatory"`},
		{"https alpn", `"ttl": 60` + "|" + `"ttl": 60, "https": {"alpn": ["h2,h3"]}`, `$.instances[0].https: https alpn 'h2,h3' of instance 'www.example.org.' has a character`},
		{"failover", `"ttl": 60` + "|" + `"ttl": 60, "failover": "apart"`, `json: $.instances[0].failover: unknown failover 'apart' (one of together, separate)`},
		{"failover single-stack", `"ttl": 60` + "|" + `"ttl": 60, "failover": "separate"`, `$.instances[0].failover: failover has no effect: instance 'www.example.org.' serves only A records`},
		{"explicit max-answers 0", `"method": "weight"` + "|" + `"method": "weight", "max-answers": 0`, `$.pools[0].max-answers: max-answers 0 of pool 'a' is out of range`},
		{"hash prefix without hash", `"method": "weight"` + "|" + `"method": "weight", "hash-ipv4": 24`, `$.pools[0]: hash prefix lengths of pool 'a' have no effect: its method is weight, not hash`},
		{"hash prefix out of range", `"method": "weight"` + "|" + `"method": "hash", "hash-ipv6": 0`, `$.pools[0]: hash IPv6 prefix length 0 of pool 'a' is out of range (1 to 128)`},
		{"soa timer out of range", `"zones": ["example.org."],` + "|" + `"zones": ["example.org."], "soa": {"retry": 7200},`, `$.soa.retry: soa retry 7200 must be below refresh 7200`},
		{"ns-ttl out of range", `"zones": ["example.org."],` + "|" + `"zones": ["example.org."], "ns-ttl": 0,`, `$.ns-ttl: ns-ttl 0 is out of range (1 to 86400 seconds)`},
		{"trailing data", `}]}]
}` + "|" + `}]}]
} {}`, "unexpected data after the configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to, _ := strings.Cut(tc.edit, "|")
			if !strings.Contains(exampleJSON, from) {
				t.Fatalf("%q not in the example", from)
			}
			_, err := ParseJSON([]byte(strings.Replace(exampleJSON, from, to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// TestJSONMonitorFields checks that the JSON form of a monitor has a field
// for each entry of MonitorOptions, named alike, and no other but its name.
func TestJSONMonitorFields(t *testing.T) {
	fields := map[string]bool{}
	for _, f := range monitorJSONFields {
		fields[f] = true
	}
	for _, o := range MonitorOptions {
		if !fields[o.Name] {
			t.Errorf("option %q has no JSON field", o.Name)
		}
		delete(fields, o.Name)
	}
	delete(fields, "name")
	for f := range fields {
		t.Errorf("JSON field %q is no monitor option", f)
	}
}
