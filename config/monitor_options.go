package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MonitorOption is one property of a monitor: its name (the Corefile keyword
// and the JSON field), the protocols it applies to, how many values it takes,
// and how it reads them. The Corefile parser reads monitor blocks with this
// table, and Validate checks with it that every option given applies to the
// monitor's protocol, whatever the source.
type MonitorOption struct {
	Name      string
	Protocols []Protocol // the protocols it applies to; nil: every one
	Min, Max  int        // how many values it takes
	Usage     string     // its values, as written after the name
	Repeat    bool       // may be given more than once; the values add up

	// Set reads the values into m. It checks only that they are what they
	// claim to be (a number, a duration, a regexp); Validate checks ranges
	// and rules, so that every source gets the same ones.
	Set func(m *Monitor, args []string) error
	// Given reports whether m holds a value other than the default, for a
	// source that records no Props. Options for every protocol need none.
	Given func(m *Monitor) bool
}

var (
	httpOnly = []Protocol{ProtoHTTP, ProtoHTTPS}
	withTLS  = []Protocol{ProtoTCP, ProtoHTTPS}
)

// MonitorOptions lists every option of a monitor, in the order Validate
// checks their applicability.
var MonitorOptions = []*MonitorOption{
	{Name: "protocol", Min: 1, Max: 1, Usage: "ping|tcp|http|https", Set: func(m *Monitor, a []string) error {
		p, ok := ParseProtocol(a[0])
		if !ok {
			return fmt.Errorf("unknown protocol '%s' (one of ping, tcp, http, https)", a[0])
		}
		m.Protocol = p
		return nil
	}},
	{Name: "interval", Min: 1, Max: 1, Usage: "DURATION", Set: duration("interval", func(m *Monitor) *time.Duration { return &m.Interval })},
	{Name: "timeout", Min: 1, Max: 1, Usage: "DURATION", Set: duration("timeout", func(m *Monitor) *time.Duration { return &m.Timeout })},
	{Name: "rise", Min: 1, Max: 1, Usage: "NUMBER", Set: number("rise", func(m *Monitor) *int { return &m.Rise })},
	{Name: "fall", Min: 1, Max: 1, Usage: "NUMBER", Set: number("fall", func(m *Monitor) *int { return &m.Fall })},
	{Name: "port", Protocols: []Protocol{ProtoTCP, ProtoHTTP, ProtoHTTPS}, Min: 1, Max: 1, Usage: "NUMBER",
		Set:   number("port", func(m *Monitor) *int { return &m.Port }),
		Given: func(m *Monitor) bool { return m.Port != 0 }},
	{Name: "tls", Protocols: []Protocol{ProtoTCP}, Usage: "",
		Set:   func(m *Monitor, _ []string) error { m.TLS = true; return nil },
		Given: func(m *Monitor) bool { return m.TLS }},
	{Name: "method", Protocols: httpOnly, Min: 1, Max: 1, Usage: "GET|HEAD|POST|...",
		Set:   func(m *Monitor, a []string) error { m.Method = a[0]; return nil },
		Given: func(m *Monitor) bool { return m.Method != "" && m.Method != DefaultMethod }},
	{Name: "host", Protocols: httpOnly, Min: 1, Max: 1, Usage: "NAME",
		Set:   func(m *Monitor, a []string) error { m.Host = a[0]; return nil },
		Given: func(m *Monitor) bool { return m.Host != "" }},
	{Name: "path", Protocols: httpOnly, Min: 1, Max: 1, Usage: "/PATH",
		Set:   func(m *Monitor, a []string) error { m.Path = a[0]; return nil },
		Given: func(m *Monitor) bool { return m.Path != "" && m.Path != DefaultPath }},
	{Name: "expect", Protocols: httpOnly, Min: 1, Max: 32, Usage: "CODE|LOW-HIGH...", Repeat: true,
		Set: func(m *Monitor, a []string) error {
			for _, s := range a {
				r, err := ParseStatusRange(s)
				if err != nil {
					return err
				}
				m.Expect = append(m.Expect, r)
			}
			return nil
		},
		Given: func(m *Monitor) bool { return len(m.Expect) > 0 }},
	{Name: "body", Protocols: httpOnly, Min: 1, Max: 1, Usage: "TEXT",
		Set:   func(m *Monitor, a []string) error { m.BodyMatch = a[0]; return nil },
		Given: func(m *Monitor) bool { return m.BodyMatch != "" }},
	{Name: "body-regexp", Protocols: httpOnly, Min: 1, Max: 1, Usage: "REGEXP",
		Set: func(m *Monitor, a []string) error {
			re, err := regexp.Compile(a[0])
			if err != nil {
				return fmt.Errorf("body-regexp '%s' does not compile: %v", a[0], err)
			}
			m.BodyRegexp = re
			return nil
		},
		Given: func(m *Monitor) bool { return m.BodyRegexp != nil }},
	{Name: "header", Protocols: httpOnly, Min: 2, Max: 2, Usage: "NAME VALUE", Repeat: true,
		Set:   func(m *Monitor, a []string) error { m.Headers = append(m.Headers, [2]string{a[0], a[1]}); return nil },
		Given: func(m *Monitor) bool { return len(m.Headers) > 0 }},
	{Name: "follow-redirects", Protocols: httpOnly, Min: 0, Max: 1, Usage: "[COUNT]",
		Set: func(m *Monitor, a []string) error {
			m.MaxRedirects = DefaultRedirects
			if len(a) == 1 {
				return number("follow-redirects", func(m *Monitor) *int { return &m.MaxRedirects })(m, a)
			}
			return nil
		},
		Given: func(m *Monitor) bool { return m.MaxRedirects != 0 }},
	{Name: "redirect-hosts", Protocols: httpOnly, Min: 1, Max: 32, Usage: "NAME...",
		Set:   func(m *Monitor, a []string) error { m.RedirectHosts = append(m.RedirectHosts, a...); return nil },
		Given: func(m *Monitor) bool { return len(m.RedirectHosts) > 0 }},
	{Name: "tls-skip-verify", Protocols: withTLS, Usage: "",
		Set:   func(m *Monitor, _ []string) error { m.SkipVerify = true; return nil },
		Given: func(m *Monitor) bool { return m.SkipVerify }},
	{Name: "tls-server-name", Protocols: withTLS, Min: 1, Max: 1, Usage: "NAME",
		Set:   func(m *Monitor, a []string) error { m.ServerName = a[0]; return nil },
		Given: func(m *Monitor) bool { return m.ServerName != "" }},
	{Name: "count", Protocols: []Protocol{ProtoPing}, Min: 1, Max: 1, Usage: "NUMBER",
		Set:   number("count", func(m *Monitor) *int { return &m.Count }),
		Given: func(m *Monitor) bool { return m.Count != 0 && m.Count != DefaultCount }},
	{Name: "max-loss", Protocols: []Protocol{ProtoPing}, Min: 1, Max: 1, Usage: "PERCENT%",
		Set: func(m *Monitor, a []string) error {
			n, err := ParsePercent(a[0])
			if err != nil {
				return fmt.Errorf("max-loss '%s' is not a share like 20%%", a[0])
			}
			m.MaxLoss = n
			return nil
		},
		Given: func(m *Monitor) bool { return m.MaxLoss != 0 }},
}

// LookupMonitorOption returns the option called name, or nil.
func LookupMonitorOption(name string) *MonitorOption {
	for _, o := range MonitorOptions {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// RepeatableMonitorOptions are the names of the options that may be given
// more than once.
func RepeatableMonitorOptions() []string {
	var out []string
	for _, o := range MonitorOptions {
		if o.Repeat {
			out = append(out, o.Name)
		}
	}
	return out
}

// AppliesTo reports whether the option applies to protocol p.
func (o *MonitorOption) AppliesTo(p Protocol) bool {
	return o.Protocols == nil || slices.Contains(o.Protocols, p)
}

// given reports whether the option was given: recorded in Props, or holding a
// value other than its default.
func (o *MonitorOption) given(m *Monitor) bool {
	return m.Props.Has(o.Name) || o.Given != nil && o.Given(m)
}

// checkOptions refuses options that do not apply to the monitor's protocol:
// they would be silently ignored.
func (m *Monitor) checkOptions() error {
	for _, o := range MonitorOptions {
		if !o.AppliesTo(m.Protocol) && o.given(m) {
			return m.Props.At(o.Name, m.Pos).Errorf("option '%s' does not apply to a %s monitor ('%s')", o.Name, m.Protocol, m.Name)
		}
	}
	return nil
}

func duration(name string, field func(*Monitor) *time.Duration) func(*Monitor, []string) error {
	return func(m *Monitor, a []string) error {
		d, err := time.ParseDuration(a[0])
		if err != nil {
			return fmt.Errorf("%s '%s' is not a duration like 5s or 500ms", name, a[0])
		}
		*field(m) = d
		return nil
	}
}

func number(name string, field func(*Monitor) *int) func(*Monitor, []string) error {
	return func(m *Monitor, a []string) error {
		n, err := strconv.Atoi(a[0])
		if err != nil {
			return fmt.Errorf("%s '%s' is not a whole number", name, a[0])
		}
		*field(m) = n
		return nil
	}
}

// ParsePercent reads "20%".
func ParsePercent(s string) (int, error) {
	pct, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("'%s' is not a share like 20%%", s)
	}
	return strconv.Atoi(pct)
}

// ParseStatusRange reads "200" or "200-299". Validate checks the range.
func ParseStatusRange(s string) (StatusRange, error) {
	bad := fmt.Errorf("expected status '%s' is not a code or a range like 200-299 within 100-599", s)
	lo, hi, isRange := strings.Cut(s, "-")
	l, err := strconv.Atoi(lo)
	if err != nil {
		return StatusRange{}, bad
	}
	h := l
	if isRange {
		if h, err = strconv.Atoi(hi); err != nil {
			return StatusRange{}, bad
		}
	}
	return StatusRange{Lo: l, Hi: h}, nil
}
