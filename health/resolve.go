package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver looks up the addresses of targets given by name (a "probe HOST"
// name, or a domain pool's name) with DNS queries of its own, and caches the
// answers for their TTL, so that probing a name at a 1 s interval does not
// send a query per probe to the system's resolver (which may be this very
// server). Lookups run in the probe's goroutine, bounded by its context;
// probes of one name share a lookup in flight.
type Resolver struct {
	// Servers are the DNS servers asked, in order, as host:port; empty means
	// the nameservers of /etc/resolv.conf. Names are looked up as absolute
	// names (resolv.conf's search list is not applied).
	Servers []string
	// MaxEntries bounds the names cached; 0 means DefaultCacheEntries.
	MaxEntries int

	once  sync.Once
	conf  []string
	cerr  error
	mu    sync.Mutex
	cache map[string]*lookup
}

// Cache bounds. A TTL outside [MinTTL, MaxTTL] is clamped: a name with TTL 0
// is looked up at most once a second, one with a day's TTL again within an
// hour. A name that does not exist (or has no address) is remembered for its
// zone's negative TTL up to MaxNegativeTTL; a failed lookup (no server
// answered, SERVFAIL) for FailTTL, so that a dead resolver is asked once a
// second per name rather than once per probe.
const (
	DefaultCacheEntries = 4096
	MinTTL              = time.Second
	MaxTTL              = time.Hour
	MaxNegativeTTL      = 30 * time.Second
	FailTTL             = time.Second
)

// DefaultResolver serves targets without a Resolver of their own.
var DefaultResolver = &Resolver{}

// lookup is one name's cache entry; done is closed once the fields are set.
type lookup struct {
	done    chan struct{}
	addrs   []netip.Addr
	err     error
	expires time.Time
}

// ErrNoAddress is the failure for a name that exists but has no A or AAAA
// record.
var ErrNoAddress = errors.New("no address")

// Lookup returns the name's IPv4 and IPv6 addresses (an IP address is its
// own answer), from the cache while its TTL lasts.
func (r *Resolver) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{ip}, nil
	}
	key := strings.ToLower(dns.Fqdn(name))
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]*lookup{}
	}
	if e := r.cache[key]; e != nil {
		select {
		case <-e.done:
			if time.Now().Before(e.expires) {
				r.mu.Unlock()
				return e.addrs, e.err
			}
		default: // another probe is looking it up: share its answer
			r.mu.Unlock()
			select {
			case <-e.done:
				return e.addrs, e.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	e := &lookup{done: make(chan struct{})}
	r.evict()
	r.cache[key] = e
	r.mu.Unlock()

	addrs, ttl, err := r.query(ctx, key)
	e.addrs, e.err, e.expires = addrs, err, time.Now().Add(ttl)
	switch {
	case errors.Is(err, context.Canceled): // the probe was stopped: nothing learnt
		r.mu.Lock()
		if r.cache[key] == e {
			delete(r.cache, key)
		}
		r.mu.Unlock()
	case errors.Is(err, context.DeadlineExceeded):
		// What later probes see is not their own timeout.
		e.err = errLookupTimedOut
	}
	close(e.done)
	return addrs, err
}

var errLookupTimedOut = fmt.Errorf("no DNS answer within the timeout (retried after %s)", FailTTL)

// evict makes room for one entry: expired entries go first, then any
// finished one. r.mu is held.
func (r *Resolver) evict() {
	limit := r.MaxEntries
	if limit <= 0 {
		limit = DefaultCacheEntries
	}
	if len(r.cache) < limit {
		return
	}
	now := time.Now()
	for k, e := range r.cache {
		select {
		case <-e.done:
			if now.After(e.expires) {
				delete(r.cache, k)
			}
		default:
		}
	}
	for k, e := range r.cache {
		if len(r.cache) < limit {
			return
		}
		select {
		case <-e.done:
			delete(r.cache, k)
		default:
		}
	}
}

func (r *Resolver) servers() ([]string, error) {
	if len(r.Servers) > 0 {
		return r.Servers, nil
	}
	r.once.Do(func() {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			r.cerr = fmt.Errorf("no DNS servers: %w", err)
			return
		}
		for _, s := range cc.Servers {
			r.conf = append(r.conf, net.JoinHostPort(s, cc.Port))
		}
		if len(r.conf) == 0 {
			r.cerr = errors.New("no DNS servers in /etc/resolv.conf")
		}
	})
	return r.conf, r.cerr
}

// query asks for A and AAAA at once and returns the addresses with the TTL
// to cache them (or the failure) for.
func (r *Resolver) query(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	servers, err := r.servers()
	if err != nil {
		return nil, FailTTL, err
	}
	type answer struct {
		addrs []netip.Addr
		ttl   time.Duration
		err   error
	}
	var ans [2]answer
	var wg sync.WaitGroup
	for i, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans[i].addrs, ans[i].ttl, ans[i].err = exchange(ctx, servers, name, qt)
		}()
	}
	wg.Wait()
	addrs := append(ans[0].addrs, ans[1].addrs...)
	if len(addrs) > 0 {
		ttl := MaxTTL
		for _, a := range ans {
			if len(a.addrs) > 0 {
				ttl = min(ttl, a.ttl)
			}
		}
		return addrs, ttl, nil
	}
	for _, a := range ans {
		if a.err != nil && !errors.Is(a.err, ErrNoAddress) && !isNXDomain(a.err) {
			return nil, FailTTL, a.err
		}
	}
	// Both negative: the shorter negative TTL.
	err = ans[0].err
	if isNXDomain(ans[1].err) {
		err = ans[1].err
	}
	return nil, min(ans[0].ttl, ans[1].ttl), err
}

type nxDomain string

func (n nxDomain) Error() string { return "no such host " + string(n) }

func isNXDomain(err error) bool {
	var nx nxDomain
	return errors.As(err, &nx)
}

// exchange asks the servers in turn, each for its share of the time left,
// and returns the addresses of type qt with the smallest TTL of the answer,
// or a negative answer (ErrNoAddress, nxDomain) with its negative TTL.
func exchange(ctx context.Context, servers []string, name string, qt uint16) ([]netip.Addr, time.Duration, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	m.SetEdns0(1232, false)
	err := errors.New("no DNS server answered")
	for i, srv := range servers {
		sctx := ctx
		if deadline, ok := ctx.Deadline(); ok {
			share := time.Until(deadline) / time.Duration(len(servers)-i)
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(ctx, share)
			defer cancel()
		}
		resp, qerr := ask(sctx, srv, m, "udp")
		if qerr == nil && resp.Truncated {
			resp, qerr = ask(sctx, srv, m, "tcp")
		}
		if err := ctx.Err(); err != nil {
			return nil, FailTTL, err
		}
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return nil, FailTTL, context.DeadlineExceeded
		}
		if qerr != nil {
			err = fmt.Errorf("%s: %w", srv, qerr)
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, negativeTTL(resp), nxDomain(strings.TrimSuffix(name, "."))
		default:
			err = fmt.Errorf("%s: %s", srv, dns.RcodeToString[resp.Rcode])
			continue
		}
		var addrs []netip.Addr
		ttl := MaxTTL
		for _, rr := range resp.Answer {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			case *dns.CNAME:
				ttl = min(ttl, time.Duration(v.Hdr.Ttl)*time.Second)
				continue
			default:
				continue
			}
			if rr.Header().Rrtype != qt {
				continue
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
				ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
			}
		}
		if len(addrs) == 0 {
			return nil, negativeTTL(resp), ErrNoAddress
		}
		return addrs, max(MinTTL, ttl), nil
	}
	return nil, FailTTL, err
}

func ask(ctx context.Context, srv string, m *dns.Msg, network string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: time.Minute} // the context bounds it
	co, err := c.DialContext(ctx, srv)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// A cancelled probe (the scheduler stopping) ends its lookup at once.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, co)
	return resp, err
}

// negativeTTL is how long a negative answer holds (RFC 2308: the SOA's TTL
// or its minimum, whichever is less), within [MinTTL, MaxNegativeTTL].
func negativeTTL(resp *dns.Msg) time.Duration {
	ttl := MaxNegativeTTL
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl = min(ttl, time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second)
		}
	}
	return max(MinTTL, ttl)
}
