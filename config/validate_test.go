package config

import (
	"net/netip"
	"strings"
	"testing"
)

// TestValidateNoEffect checks the rules against properties that would have no
// effect on configuration built without the parser, as the control API will
// build it: positions come from Props, and the messages are the Corefile's.
func TestValidateNoEffect(t *testing.T) {
	at := func(line int) Pos { return Pos{File: "api", Line: line} }
	build := func(edit func(*Config)) *Config {
		c := &Config{
			Zones: []string{"example.org."},
			Pools: []*Pool{{Pos: at(1), Name: "a", MinAvailable: DefaultThreshold,
				Addresses: []*Address{{Pos: at(2), IP: netip.MustParseAddr("192.0.2.1"), Weight: 1}}}},
			Instances: []*Instance{{Pos: at(3), Name: "www.example.org.", TTL: 30, Props: Props{},
				Rules: []*Rule{{Pos: at(4), Match: MatchDefault,
					Primary: &Collection{Pos: at(4), MinAvailable: DefaultThreshold, Members: []Member{{Pos: at(4), Pool: "a", Weight: 1}}}}}}},
		}
		edit(c)
		return c
	}
	second := func() *Collection {
		return &Collection{Pos: at(5), MinAvailable: DefaultThreshold, Members: []Member{{Pos: at(5), Pool: "a", Weight: 1}}}
	}
	tests := []struct {
		name string
		edit func(*Config)
		err  string // substring; "" when valid
	}{
		// positive
		{"tie on latency", func(c *Config) {
			in := c.Instances[0]
			in.Policy = PolicyLatency
			in.Props.Set("tie", at(9))
		}, ""},
		{"tie values without the property given", func(c *Config) { c.Instances[0].TiePercent = 10 }, ""},
		{"manual failback, automatic switch", func(c *Config) {
			in := c.Instances[0]
			in.Failback, in.Rules[0].Secondary = Manual, second()
		}, ""},
		{"tls options on https", func(c *Config) {
			c.Monitors = []*Monitor{{Pos: at(7), Name: "m", Protocol: ProtoHTTPS, Interval: DefaultInterval, Timeout: DefaultTimeout,
				Rise: 1, Fall: 1, SkipVerify: true, ServerName: "x.example.org"}}
		}, ""},
		{"tls options on tcp with tls", func(c *Config) {
			c.Monitors = []*Monitor{{Pos: at(7), Name: "m", Protocol: ProtoTCP, Port: 443, TLS: true, Interval: DefaultInterval,
				Timeout: DefaultTimeout, Rise: 1, Fall: 1, SkipVerify: true}}
		}, ""},

		// negative
		{"tie on geo", func(c *Config) { c.Instances[0].Props.Set("tie", at(9)) }, "api:9 - Error during parsing: tie has no effect: instance 'www.example.org.' uses the geo policy"},
		{"manual failback, pinned", func(c *Config) {
			in := c.Instances[0]
			in.Failback, in.Switch = Manual, SwitchPrimary
			in.Props.Set("failback", at(8))
		}, "api:8 - Error during parsing: failback manual has no effect: instance 'www.example.org.' is pinned to its primary collection"},
		{"manual failback, pinned, no position", func(c *Config) {
			in := c.Instances[0]
			in.Failback, in.Switch, in.Props = Manual, SwitchPrimary, nil
		}, "api:3 - Error during parsing: failback manual has no effect"},
		{"pinned secondary, rule without", func(c *Config) {
			in := c.Instances[0]
			in.Switch = SwitchSecondary
		}, "api:4 - Error during parsing: rule 'default' of instance 'www.example.org.' has no secondary collection"},
		{"tls option on tcp without tls", func(c *Config) {
			c.Monitors = []*Monitor{{Pos: at(7), Name: "m", Protocol: ProtoTCP, Port: 443, Interval: DefaultInterval,
				Timeout: DefaultTimeout, Rise: 1, Fall: 1, ServerName: "x.example.org", Props: Props{{"tls-server-name", at(10)}}}}
		}, "api:10 - Error during parsing: tls-server-name has no effect: monitor 'm' makes no TLS handshake"},
		{"tls option on http", func(c *Config) {
			c.Monitors = []*Monitor{{Pos: at(7), Name: "m", Protocol: ProtoHTTP, Interval: DefaultInterval,
				Timeout: DefaultTimeout, Rise: 1, Fall: 1, SkipVerify: true}}
		}, "api:7 - Error during parsing: option 'tls-skip-verify' does not apply to a http monitor ('m')"},
		{"pool name", func(c *Config) { c.Pools[0].Name = "a..b" }, "api:1 - Error during parsing: 'a..b' of 'pool' is not a valid name"},
		{"count and share", func(c *Config) { c.Pools[0].MinAvailable = Threshold{Count: 1, Percent: 50} }, "min-available of pool 'a' is both a count and a share"},
		{"mapped address", func(c *Config) { c.Pools[0].Addresses[0].IP = netip.MustParseAddr("::ffff:192.0.2.1") }, "api:2 - Error during parsing: address '::ffff:192.0.2.1' is IPv4-mapped IPv6; write it as 192.0.2.1"},
		{"empty secondary", func(c *Config) { c.Instances[0].Rules[0].Secondary = &Collection{Pos: at(6)} }, "api:6 - Error during parsing: secondary collection has no pools"},
		{"expect out of range", func(c *Config) {
			m := NewMonitor(at(7), "m")
			m.Protocol, m.Expect = ProtoHTTP, []StatusRange{{600, 700}}
			c.Monitors = []*Monitor{m}
		}, "api:7 - Error during parsing: expected status '600-700' is not a code or a range"},
		{"redirect host with a path", func(c *Config) {
			m := NewMonitor(at(7), "m")
			m.Protocol, m.MaxRedirects, m.RedirectHosts = ProtoHTTP, 1, []string{"a.example/x"}
			c.Monitors = []*Monitor{m}
		}, "redirect host 'a.example/x' is not a host name or address"},
		{"port on ping, no Props", func(c *Config) {
			m := NewMonitor(at(7), "m")
			m.Protocol, m.Port = ProtoPing, 80
			c.Monitors = []*Monitor{m}
		}, "api:7 - Error during parsing: option 'port' does not apply to a ping monitor ('m')"},
		{"count on http, given", func(c *Config) {
			m := NewMonitor(at(7), "m")
			m.Protocol = ProtoHTTP
			m.Props.Set("count", at(11))
			c.Monitors = []*Monitor{m}
		}, "api:11 - Error during parsing: option 'count' does not apply to a http monitor ('m')"},
		{"host header", func(c *Config) {
			m := NewMonitor(at(7), "m")
			m.Protocol, m.Headers = ProtoHTTP, [][2]string{{"HOST", "x"}}
			c.Monitors = []*Monitor{m}
		}, "api:7 - Error during parsing: 'header HOST' is not allowed"},
		// Duplicates past the few that smallSet holds in its list.
		{"address twice in a big pool", func(c *Config) {
			p := c.Pools[0]
			for i := range 20 {
				p.Addresses = append(p.Addresses, &Address{Pos: at(20 + i), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Weight: 1})
			}
			p.Addresses = append(p.Addresses, &Address{Pos: at(50), IP: netip.MustParseAddr("192.0.2.25"), Weight: 1})
		}, "api:50 - Error during parsing: address 192.0.2.25 appears twice in pool 'a' (also at line 35)"},
		{"address twice in a pool, first and last", func(c *Config) {
			p := c.Pools[0]
			for i := range 20 {
				p.Addresses = append(p.Addresses, &Address{Pos: at(20 + i), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Weight: 1})
			}
			p.Addresses = append(p.Addresses, &Address{Pos: at(50), IP: netip.MustParseAddr("192.0.2.1"), Weight: 1})
		}, "api:50 - Error during parsing: address 192.0.2.1 appears twice in pool 'a' (also at line 2)"},
		{"many distinct addresses", func(c *Config) {
			p := c.Pools[0]
			for i := range 30 {
				p.Addresses = append(p.Addresses, &Address{Pos: at(20 + i), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Weight: 1})
			}
		}, ""},
		{"cidr twice in many rules", func(c *Config) {
			c.GeoIP = "x.mmdb"
			in := c.Instances[0]
			for i := range 12 {
				in.Rules = append(in.Rules, &Rule{Pos: at(60 + i), Match: MatchCIDR, Values: []string{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16).String()}, Primary: second()})
			}
			in.Rules = append(in.Rules, &Rule{Pos: at(80), Match: MatchCIDR, Values: []string{"10.5.0.0/16"}, Primary: second()})
		}, "api:80 - Error during parsing: instance 'www.example.org.' has 'cidr 10.5.0.0/16' in two rules (first at line 65)"},
		{"explicit port 0", func(c *Config) {
			m := NewMonitor(at(7), "m")
			m.Protocol = ProtoHTTP
			m.Props.Set("port", at(12))
			c.Monitors = []*Monitor{m}
		}, "api:12 - Error during parsing: port 0 of monitor 'm' is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := build(tc.edit).Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("expected error containing %q, got none", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q does not contain %q", err, tc.err)
			}
		})
	}
}
