package config

import (
	"fmt"
	"regexp"
	"time"
)

// Protocol is a monitor's health-check protocol.
type Protocol uint8

const (
	ProtoPing Protocol = iota + 1
	ProtoTCP
	ProtoHTTP
	ProtoHTTPS
)

var protocolNames = []string{"", "ping", "tcp", "http", "https"}

func (p Protocol) String() string { return protocolNames[p] }

// ParseProtocol reads a protocol keyword.
func ParseProtocol(s string) (Protocol, bool) { return parseName[Protocol](protocolNames, s) }

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

func (r StatusRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprint(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// Monitor is a health-check template, attached to pools and addresses.
type Monitor struct {
	Pos
	Name     string
	Protocol Protocol
	Interval time.Duration
	Timeout  time.Duration // bounds a whole probe
	Rise     int           // consecutive passes to become healthy
	Fall     int           // consecutive failures to become unhealthy
	Port     int           // 0: the protocol's default (80, 443); required for tcp

	// tcp
	TLS bool // complete a TLS handshake after connecting

	// http and https (and tcp with TLS for the TLS options)
	Method     string
	Host       string // Host header; default the address (or its domain)
	Path       string
	Expect     []StatusRange
	BodyMatch  string         // substring the body must contain
	BodyRegexp *regexp.Regexp // or a regexp it must match
	Headers    [][2]string
	SkipVerify bool   // accept any certificate
	ServerName string // SNI and the name verified; default Host
	// MaxRedirects is how many redirects a probe follows (0: none, the
	// redirect's own status is judged), only to the same host or to one of
	// RedirectHosts.
	MaxRedirects  int
	RedirectHosts []string

	// ping
	Count   int // echo requests per probe
	MaxLoss int // percent of lost replies still counted as a pass

	Used  bool  // some pool or address refers to it (set by Validate)
	Props Props // where each option was given
}

// Monitor defaults, in one place.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 3 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	DefaultCount    = 3
	MinInterval     = 100 * time.Millisecond
	MaxInterval     = time.Hour
	MaxRiseFall     = 100
	MaxPingCount    = 100
	// DefaultRedirects is what "follow-redirects" without a count follows.
	DefaultRedirects = 5
	MaxRedirects     = 20
)

// DefaultExpect is what an HTTP(S) check accepts unless told otherwise.
var DefaultExpect = []StatusRange{{Lo: 200, Hi: 399}}

// NewMonitor returns a monitor with every default filled in.
func NewMonitor(pos Pos, name string) *Monitor {
	return &Monitor{
		Pos: pos, Name: name,
		Interval: DefaultInterval, Timeout: DefaultTimeout,
		Rise: DefaultRise, Fall: DefaultFall,
		Method: "GET", Path: "/",
		Count: DefaultCount,
		Props: Props{},
	}
}

// EffectivePort is the port probed: the configured one or the protocol's.
func (m *Monitor) EffectivePort() int {
	switch {
	case m.Port != 0:
		return m.Port
	case m.Protocol == ProtoHTTP:
		return 80
	case m.Protocol == ProtoHTTPS:
		return 443
	}
	return 0
}

// Expected reports whether an HTTP status passes.
func (m *Monitor) Expected(status int) bool {
	exp := m.Expect
	if len(exp) == 0 {
		exp = DefaultExpect
	}
	for _, r := range exp {
		if status >= r.Lo && status <= r.Hi {
			return true
		}
	}
	return false
}

func (m *Monitor) validate() error {
	what := "monitor '" + m.Name + "'"
	switch {
	case m.Protocol == 0 || m.Protocol > ProtoHTTPS:
		return m.Errorf("%s needs a protocol (ping, tcp, http or https)", what)
	case m.Interval < MinInterval || m.Interval > MaxInterval:
		return m.Errorf("interval %s of %s is out of range (%s to %s)", m.Interval, what, MinInterval, MaxInterval)
	case m.Timeout <= 0:
		return m.Errorf("timeout %s of %s must be positive", m.Timeout, what)
	case m.Timeout >= m.Interval:
		return m.Errorf("timeout %s of %s must be below its interval %s", m.Timeout, what, m.Interval)
	case m.Rise < 1 || m.Rise > MaxRiseFall:
		return m.Errorf("rise %d of %s is out of range (1 to %d)", m.Rise, what, MaxRiseFall)
	case m.Fall < 1 || m.Fall > MaxRiseFall:
		return m.Errorf("fall %d of %s is out of range (1 to %d)", m.Fall, what, MaxRiseFall)
	case m.Port < 0 || m.Port > 65535:
		return m.Errorf("port %d of %s is out of range (1 to 65535)", m.Port, what)
	case m.Protocol == ProtoTCP && m.Port == 0:
		return m.Errorf("%s: a tcp check needs a port", what)
	case m.Protocol == ProtoPing && m.Port != 0:
		return m.Errorf("%s: a ping check takes no port", what)
	case m.Count < 1 || m.Count > MaxPingCount:
		return m.Errorf("count %d of %s is out of range (1 to %d)", m.Count, what, MaxPingCount)
	case m.MaxLoss < 0 || m.MaxLoss > 99:
		return m.Errorf("max-loss %d%% of %s is out of range (0%% to 99%%)", m.MaxLoss, what)
	case m.MaxRedirects < 0 || m.MaxRedirects > MaxRedirects:
		return m.Errorf("follow-redirects %d of %s is out of range (1 to %d)", m.MaxRedirects, what, MaxRedirects)
	case len(m.RedirectHosts) > 0 && m.MaxRedirects == 0:
		return m.Errorf("%s has redirect-hosts but does not follow redirects: add follow-redirects", what)
	}
	for _, r := range m.Expect {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			return m.Errorf("expected status %s of %s is not a range within 100-599", r, what)
		}
	}
	// Without a handshake the TLS options would be silently ignored.
	if tls := m.Protocol == ProtoHTTPS || m.Protocol == ProtoTCP && m.TLS; !tls && (m.SkipVerify || m.ServerName != "") {
		opt := "tls-server-name"
		if m.SkipVerify {
			opt = "tls-skip-verify"
		}
		return m.Props.At(opt, m.Pos).Errorf("%s has no effect: %s makes no TLS handshake (only https, and tcp with 'tls', do)", opt, what)
	}
	return nil
}
