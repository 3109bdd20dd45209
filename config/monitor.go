package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
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
	DefaultMethod   = "GET"
	DefaultPath     = "/"
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
		Method: DefaultMethod, Path: DefaultPath,
		Count: DefaultCount,
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
	at := func(opt string) Pos { return m.Props.At(opt, m.Pos) }
	if _, ok := dns.IsDomainName(m.Name); !ok || m.Name == "" {
		return m.Errorf("'%s' of 'monitor' is not a valid name", m.Name)
	}
	if m.Protocol == 0 || m.Protocol > ProtoHTTPS {
		return m.Errorf("%s needs a protocol (ping, tcp, http or https)", what)
	}
	if err := m.checkOptions(); err != nil {
		return err
	}
	switch {
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
	case m.Port < 0 || m.Port > 65535 || m.Port == 0 && m.Props.Has("port"):
		return at("port").Errorf("port %d of %s is out of range (1 to 65535)", m.Port, what)
	case m.Protocol == ProtoTCP && m.Port == 0:
		return m.Errorf("%s: a tcp check needs a port", what)
	case m.Protocol == ProtoPing && (m.Count < 1 || m.Count > MaxPingCount):
		return at("count").Errorf("count %d of %s is out of range (1 to %d)", m.Count, what, MaxPingCount)
	case m.MaxLoss < 0 || m.MaxLoss > 99:
		return at("max-loss").Errorf("max-loss %d%% of %s is out of range (0%% to 99%%)", m.MaxLoss, what)
	case m.MaxRedirects < 0 || m.MaxRedirects > MaxRedirects || m.MaxRedirects == 0 && m.Props.Has("follow-redirects"):
		return at("follow-redirects").Errorf("follow-redirects %d of %s is out of range (1 to %d)", m.MaxRedirects, what, MaxRedirects)
	case len(m.RedirectHosts) > 0 && m.MaxRedirects == 0:
		return m.Errorf("%s has redirect-hosts but does not follow redirects: add follow-redirects", what)
	case m.Method != strings.ToUpper(m.Method) || strings.ContainsAny(m.Method, " /:"):
		return at("method").Errorf("method '%s' is not an HTTP method in capitals, like GET or HEAD", m.Method)
	case m.Path != "" && !strings.HasPrefix(m.Path, "/"):
		return at("path").Errorf("path '%s' must start with '/'", m.Path)
	case m.BodyMatch != "" && m.BodyRegexp != nil:
		return m.Errorf("%s has both body and body-regexp: choose one", what)
	}
	for _, r := range m.Expect {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			return at("expect").Errorf("expected status '%s' is not a code or a range like 200-299 within 100-599 (%s)", r, what)
		}
	}
	for _, h := range m.Headers {
		if strings.EqualFold(h[0], "Host") {
			return at("header").Errorf("'header %s' is not allowed: set the Host header with 'host %s'", h[0], h[1])
		}
	}
	for i, h := range m.RedirectHosts {
		norm, ok := redirectHost(h)
		if !ok {
			return at("redirect-hosts").Errorf("redirect host '%s' is not a host name or address (no port, scheme or path)", h)
		}
		m.RedirectHosts[i] = norm
	}
	// Without a handshake the TLS options would be silently ignored.
	if tls := m.Protocol == ProtoHTTPS || m.Protocol == ProtoTCP && m.TLS; !tls && (m.SkipVerify || m.ServerName != "") {
		opt := "tls-server-name"
		if m.SkipVerify {
			opt = "tls-skip-verify"
		}
		return at(opt).Errorf("%s has no effect: %s makes no TLS handshake (only https, and tcp with 'tls', do)", opt, what)
	}
	return nil
}

// redirectHost checks a host a redirect may go to and returns it in the form
// the prober compares: an address as netip writes it, a name in lower case
// without the final dot.
func redirectHost(s string) (string, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.String(), true
	}
	if _, ok := dns.IsDomainName(s); !ok || s == "" || strings.ContainsAny(s, ":/") {
		return "", false
	}
	return strings.ToLower(strings.TrimSuffix(s, ".")), true
}
