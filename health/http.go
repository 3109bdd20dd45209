package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gtm-project/gtm/config"
)

// MaxBody is how much of a response body a check reads for matching.
const MaxBody = 64 << 10

// MaxHeader bounds a response's status line and headers: a check fails on
// more, rather than reading whatever a broken or hostile server sends.
const MaxHeader = 64 << 10

// HTTP checks an HTTP or HTTPS endpoint: status code in the expected ranges,
// and optionally a body match.
type HTTP struct {
	Scheme string
	Port   int
	Method string
	Host   string // Host header; "" means the target
	Path   string
	Header http.Header
	Expect func(status int) bool
	Body   string
	Regexp *regexp.Regexp

	client    *http.Client
	transport *http.Transport
}

// NewHTTP builds the checker for an http or https monitor.
func NewHTTP(m *config.Monitor, domain string) *HTTP {
	h := &HTTP{Scheme: m.Protocol.String(), Port: m.EffectivePort(), Method: m.Method, Host: m.Host,
		Path: m.Path, Header: http.Header{}, Expect: m.Expected, Body: m.BodyMatch, Regexp: m.BodyRegexp}
	if h.Host == "" {
		h.Host = domain
	}
	for _, kv := range m.Headers {
		h.Header.Add(kv[0], kv[1])
	}
	sni := m.ServerName
	if sni == "" {
		sni = h.Host
	}
	tr := &http.Transport{
		// Every probe opens its own connection: a check of reachability must
		// not ride on a connection opened while the endpoint was up.
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{ServerName: sni, InsecureSkipVerify: m.SkipVerify},
		Proxy:             nil,
		// net/http finishes a dial in the background after the request's
		// context ends; these bound that dial and handshake too.
		DialContext:            dialer(&net.Dialer{Timeout: m.Timeout, KeepAlive: -1}),
		TLSHandshakeTimeout:    m.Timeout,
		ResponseHeaderTimeout:  m.Timeout,
		MaxResponseHeaderBytes: MaxHeader,
	}
	h.transport = tr
	h.client = &http.Client{Transport: tr, CheckRedirect: checkRedirect(m.MaxRedirects, m.RedirectHosts)}
	return h
}

// dialer connects a name to the address the probe chose for it, or looks it
// up through the probe's resolver: never through the system's.
func dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if addr, err = dialAddr(ctx, host, port); err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, addr)
	}
}

// checkRedirect follows at most limit redirects (none: the redirect's own
// status is judged), each to the first request's host or one of hosts.
func checkRedirect(limit int, hosts []string) func(*http.Request, []*http.Request) error {
	if limit == 0 {
		return func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > limit {
			return fmt.Errorf("stopped after %d redirects", limit)
		}
		to := strings.ToLower(strings.TrimSuffix(req.URL.Hostname(), "."))
		from := strings.ToLower(strings.TrimSuffix(via[0].URL.Hostname(), "."))
		if to != from && !slices.Contains(hosts, to) {
			return fmt.Errorf("redirect to another host, %s, not in redirect-hosts", req.URL.Host)
		}
		return nil
	}
}

// Probe implements Prober.
func (p *HTTP) Probe(ctx context.Context, host string) (r Result) {
	// Trace callbacks can run on the transport's goroutines, even after Do
	// returns, so the phases they time are kept under a lock.
	var ph phases
	start := time.Now()
	trace := &httptrace.ClientTrace{
		ConnectStart:         func(string, string) { ph.mark(&ph.connStart) },
		ConnectDone:          func(string, string, error) { ph.since(&ph.connect, &ph.connStart) },
		TLSHandshakeStart:    func() { ph.mark(&ph.tlsStart) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { ph.since(&ph.tls, &ph.tlsStart) },
		GotFirstResponseByte: func() { ph.since(&ph.firstByte, &start) },
	}
	defer func() { r.Connect, r.TLS, r.FirstByte = ph.get() }()
	// Ends a dial that is still going on in the background.
	defer p.transport.CloseIdleConnections()
	url := fmt.Sprintf("%s://%s%s", p.Scheme, hostPort(host, p.Port), p.Path)
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), p.Method, url, nil)
	if err != nil {
		r.Err = fmt.Errorf("http: %w", err)
		return r
	}
	req.Header = p.Header.Clone()
	req.Header.Set("User-Agent", "gtm-health-check")
	if p.Host != "" {
		req.Host = p.Host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		r.Err = httpError(err)
		return r
	}
	defer resp.Body.Close()
	if !p.Expect(resp.StatusCode) {
		r.Err = fmt.Errorf("http: status %d", resp.StatusCode)
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBody))
		return r
	}
	if p.Body != "" || p.Regexp != nil {
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		if err != nil {
			r.Err = httpError(err)
			return r
		}
		switch {
		case p.Body != "" && !bytes.Contains(body, []byte(p.Body)):
			r.Err = fmt.Errorf("http: body does not contain %q", p.Body)
			return r
		case p.Regexp != nil && !p.Regexp.Match(body):
			r.Err = fmt.Errorf("http: body does not match %q", p.Regexp)
			return r
		}
	}
	r.OK = true
	r.RTT = time.Since(start)
	return r
}

type phases struct {
	mu                      sync.Mutex
	connStart, tlsStart     time.Time
	connect, tls, firstByte time.Duration
}

func (p *phases) mark(t *time.Time) {
	p.mu.Lock()
	*t = time.Now()
	p.mu.Unlock()
}

func (p *phases) since(d *time.Duration, t *time.Time) {
	p.mu.Lock()
	*d = time.Since(*t)
	p.mu.Unlock()
}

func (p *phases) get() (connect, tls, firstByte time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connect, p.tls, p.firstByte
}

// httpError names the cause of a failed request without the URL noise.
func httpError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return fmt.Errorf("tls: %w", ce.Err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return opError("http", err)
	}
	return fmt.Errorf("http: %w", err)
}
