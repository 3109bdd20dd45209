// Package corefile reads gtm's block of a Corefile into a config.Config.
package corefile

import (
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/gtm-project/gtm/config"
	"github.com/miekg/dns"
)

// Parse reads one gtm block into a validated configuration. It checks only
// syntax (argument counts, known properties and keywords, text that must be a
// number, a duration or an address) and records where each thing was
// written; every rule about values (ranges, references, conflicts) is
// config.Validate's, which the JSON form and the control API share.
func Parse(c *caddy.Controller) (*config.Config, fall.F, error) {
	cfg, fl, err := parseBlock(c)
	if err != nil {
		return nil, fl, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fl, err
	}
	// Without a name server that resolves, the delegation is lame. Under
	// fallthrough the next plugin holds the apex (SOA, NS and the servers'
	// addresses), so gtm needs none of its own.
	if len(cfg.NS) == 0 {
		for _, z := range cfg.Zones {
			if !fl.Through(z) {
				return nil, fl, cfg.Errorf("zone '%s' needs its name servers: add 'ns NAME ADDRESS...' (one line per server; addresses for names inside the zone), or 'fallthrough' to a plugin that serves the apex", z)
			}
		}
	}
	return cfg, fl, nil
}

// parseBlock reads one gtm block into a configuration, not yet validated.
func parseBlock(c *caddy.Controller) (*config.Config, fall.F, error) {
	var (
		cfg *config.Config
		fl  fall.F
	)
	for i := 0; c.Next(); i++ {
		if i > 0 {
			return nil, fl, plugin.ErrOnce
		}
		p := &parser{c: c}
		cfg = &config.Config{Pos: p.pos()}
		cfg.Zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		if !c.NextArg() {
			return nil, fl, c.Err("gtm needs a configuration block: '{' expected after the zones")
		}
		err := p.body("the gtm block", "", nil, []string{"monitor", "pool", "instance", "ns", "explain"}, func(prop string) error {
			switch prop {
			case "soa":
				return p.soa(&cfg.SOA)
			case "ns-ttl":
				cfg.NSTTLPos = p.pos()
				s, err := p.arg(prop, "SECONDS|DURATION")
				if err != nil {
					return err
				}
				cfg.NSTTL, err = p.seconds(prop, s)
				return err
			case "ns":
				ns, err := p.nameServer()
				if err != nil {
					return err
				}
				cfg.NS = append(cfg.NS, ns)
			case "monitor":
				m, err := p.monitor()
				if err != nil {
					return err
				}
				cfg.Monitors = append(cfg.Monitors, m)
			case "pool":
				pool, err := p.pool()
				if err != nil {
					return err
				}
				cfg.Pools = append(cfg.Pools, pool)
			case "instance":
				in, err := p.instance(cfg.Zones)
				if err != nil {
					return err
				}
				cfg.Instances = append(cfg.Instances, in)
			case "fallthrough":
				fl.SetZonesFromArgs(c.RemainingArgs())
			case "explain":
				args := c.RemainingArgs()
				if len(args) == 0 {
					cfg.ExplainFrom = config.DefaultExplainFrom()
				}
				for _, a := range args {
					pr, err := netip.ParsePrefix(a)
					if err != nil {
						return c.Errf("explain: '%s' is not a network like 127.0.0.0/8", a)
					}
					cfg.ExplainFrom = append(cfg.ExplainFrom, pr.Masked())
				}
			case "api":
				api, err := p.api()
				if err != nil {
					return err
				}
				cfg.API = api
			case "dnssec":
				d, err := p.dnssec()
				if err != nil {
					return err
				}
				cfg.DNSSEC = d
			case "geoip":
				cfg.GeoIPPos = p.pos()
				path, err := p.arg(prop, "FILE")
				if err != nil {
					return err
				}
				cfg.GeoIP = path
			case "asn":
				cfg.ASNPos = p.pos()
				path, err := p.arg(prop, "FILE")
				if err != nil {
					return err
				}
				cfg.ASN = path
			default:
				return c.Errf("unknown property '%s' in gtm block", prop)
			}
			return nil
		})
		if err != nil {
			return nil, fl, err
		}
	}
	if cfg == nil {
		return nil, fl, c.Err("gtm: no configuration")
	}
	return cfg, fl, nil
}

// soa reads "soa [MNAME RNAME] [{ refresh T; retry T; expire T; minimum T }]":
// the names and the timers of the synthesized SOA.
func (p *parser) soa(soa *config.SOA) error {
	var names []string
	for a, ok := p.nextArg(); ok; a, ok = p.nextArg() {
		names = append(names, a)
	}
	const usage = "soa [MNAME RNAME] [{ refresh|retry|expire|minimum SECONDS|DURATION }]"
	block := p.openBlock()
	if len(names) != 2 && !(len(names) == 0 && block) {
		return p.c.Errf("'soa' takes both names or neither, got %d (usage: %s)", len(names), usage)
	}
	if len(names) == 2 {
		soa.MName, soa.RName = config.Fqdn(names[0]), config.Fqdn(names[1])
	}
	if !block {
		return nil
	}
	return p.body("soa", "", &soa.Props, nil, func(prop string) error {
		var dst *uint32
		switch prop {
		case "refresh":
			dst = &soa.Refresh
		case "retry":
			dst = &soa.Retry
		case "expire":
			dst = &soa.Expire
		case "minimum":
			dst = &soa.Minimum
		default:
			return p.c.Errf("unknown property '%s' in soa (refresh, retry, expire, minimum)", prop)
		}
		s, err := p.arg(prop, "SECONDS|DURATION")
		if err != nil {
			return err
		}
		*dst, err = p.seconds(prop, s)
		return err
	})
}

// seconds reads whole seconds ("3600") or a duration ("1h") for prop;
// Validate checks the range.
func (p *parser) seconds(prop, s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d%time.Second != 0 || d/time.Second > math.MaxUint32 {
		return 0, p.c.Errf("%s '%s' is not whole seconds like 3600 or a duration like 1h", prop, s)
	}
	return uint32(d / time.Second), nil
}

// api reads "api [ADDRESS[:PORT]] [{ ... }]": the control API.
func (p *parser) api() (*config.API, error) {
	a := &config.API{Pos: p.pos(), Address: config.DefaultAPIAddress, Store: config.DefaultStoreFile,
		Quorum: config.DefaultQuorum, Grace: config.DefaultGrace}
	var clusterOnly []string // properties that need 'store etcd', as written
	if addr, ok := p.nextArg(); ok {
		host, port, err := net.SplitHostPort(addr)
		if err != nil { // a host or address alone
			host, port = strings.Trim(addr, "[]"), "8053"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, p.c.Errf("api: '%s' is not an address like 127.0.0.1:8053 (port 0 to 65535)", addr)
		}
		a.Address = net.JoinHostPort(host, port)
	}
	if p.openBlock() {
		err := p.body("api", "", nil, []string{"webhook"}, func(prop string) error {
			var err error
			switch prop {
			case "store":
				if d := p.c.Dispenser; d.NextArg() && d.Val() == "etcd" {
					p.c.NextArg()
					a.Etcd, err = p.etcdStore()
				} else {
					a.Store, err = p.arg(prop, "FILE")
				}
			case "node":
				var n string
				if n, err = p.arg(prop, "NAME"); err == nil {
					if !config.ValidNodeName(n) {
						return p.c.Errf("node: '%s' is not a node name (1 to 63 letters, digits, '.', '-' or '_')", n)
					}
					a.Node = n
				}
			case "vantage":
				var args []string
				if args, err = p.args(prop, 1, 3, "REGION [CONTINENT [COUNTRY]]"); err == nil {
					if !config.ValidNodeName(args[0]) {
						return p.c.Errf("vantage: '%s' is not a region name (1 to 63 letters, digits, '.', '-' or '_')", args[0])
					}
					a.Vantage.Region = args[0]
					if len(args) > 1 {
						c, verr := config.CheckVantageValue(config.MatchContinent, args[1])
						if verr != nil {
							return p.c.Errf("vantage: %v", verr)
						}
						a.Vantage.Continent = c
					}
					if len(args) > 2 {
						c, verr := config.CheckVantageValue(config.MatchCountry, args[2])
						if verr != nil {
							return p.c.Errf("vantage: %v", verr)
						}
						a.Vantage.Country = c
					}
					clusterOnly = append(clusterOnly, "vantage (line "+strconv.Itoa(p.c.Line())+")")
				}
			case "probe":
				var v string
				if v, err = p.arg(prop, "on|off"); err == nil {
					switch v {
					case "on":
						a.NoProbe = false
					case "off":
						a.NoProbe = true
						clusterOnly = append(clusterOnly, "probe off (line "+strconv.Itoa(p.c.Line())+")")
					default:
						return p.c.Errf("probe: '%s' is neither on nor off", v)
					}
				}
			case "quorum":
				var v string
				if v, err = p.arg(prop, "PERCENT%"); err == nil {
					n, perr := strconv.Atoi(strings.TrimSuffix(v, "%"))
					if perr != nil || !strings.HasSuffix(v, "%") || n < 1 || n > 100 {
						return p.c.Errf("quorum: '%s' is not a share from 1%% to 100%% like 50%%", v)
					}
					a.Quorum = n
					clusterOnly = append(clusterOnly, "quorum (line "+strconv.Itoa(p.c.Line())+")")
				}
			case "grace":
				var v string
				if v, err = p.arg(prop, "DURATION"); err == nil {
					d, perr := time.ParseDuration(v)
					if perr != nil || d < 0 || d > time.Hour {
						return p.c.Errf("grace: '%s' is not a duration from 0s to 1h like 30s", v)
					}
					a.Grace = d
					clusterOnly = append(clusterOnly, "grace (line "+strconv.Itoa(p.c.Line())+")")
				}
			case "token", "tokens":
				a.Tokens, err = p.arg(prop, "FILE")
			case "tls":
				var args []string
				if args, err = p.args(prop, 2, 2, "CERT KEY"); err == nil {
					a.TLSCert, a.TLSKey = args[0], args[1]
				}
			case "max-body":
				var s string
				if s, err = p.arg(prop, "BYTES"); err == nil {
					n, perr := strconv.ParseInt(s, 10, 64)
					if perr != nil || n < 1024 || n > 64<<20 {
						return p.c.Errf("max-body: '%s' is not a size from 1024 to 67108864 bytes", s)
					}
					a.MaxBody = n
				}
			case "webhook":
				var w config.Webhook
				if w, err = p.webhook(); err == nil {
					a.Webhooks = append(a.Webhooks, w)
				}
			default:
				return p.c.Errf("unknown property '%s' in api block (store, node, vantage, probe, quorum, grace, token, tls, max-body, webhook)", prop)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if a.Etcd == nil && len(clusterOnly) > 0 {
			return nil, a.Errorf("api: %s concern a cluster of nodes and need 'store etcd ENDPOINT...' in the same api block", strings.Join(clusterOnly, ", "))
		}
	} else if extra, ok := p.nextArg(); ok {
		return nil, p.c.Errf("api: unexpected '%s' (usage: api [ADDRESS[:PORT]] [{ ... }])", extra)
	}
	return a, nil
}

// etcdStore reads the rest of "store etcd ENDPOINT... [{ prefix P; tls
// CERT KEY CA; dial-timeout D }]", 'etcd' being the current token.
func (p *parser) etcdStore() (*config.EtcdStore, error) {
	e := &config.EtcdStore{Pos: p.pos(), Prefix: config.DefaultEtcdPrefix, DialTimeout: config.DefaultEtcdDialTimeout}
	const usage = "store etcd ENDPOINT... [{ prefix P; tls CERT KEY CA; dial-timeout D }]"
	for {
		a, ok := p.nextArg()
		if !ok {
			break
		}
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, p.c.Errf("store etcd: '%s' is not an etcd client URL like http://127.0.0.1:2379 (http or https, host and port)", a)
		}
		if slices.Contains(e.Endpoints, a) {
			return nil, p.c.Errf("store etcd: '%s' is given twice", a)
		}
		e.Endpoints = append(e.Endpoints, a)
	}
	if len(e.Endpoints) == 0 {
		return nil, p.c.Errf("'store etcd' needs at least one endpoint (usage: %s; a store file named etcd is written ./etcd)", usage)
	}
	if !p.openBlock() {
		return e, nil
	}
	err := p.body("store etcd", "", nil, nil, func(prop string) error {
		var err error
		switch prop {
		case "prefix":
			var s string
			if s, err = p.arg(prop, "PREFIX"); err == nil {
				if !strings.HasPrefix(s, "/") {
					return p.c.Errf("prefix: '%s' does not start with '/' (like /gtm/)", s)
				}
				if !strings.HasSuffix(s, "/") {
					s += "/"
				}
				e.Prefix = s
			}
		case "tls":
			var args []string
			if args, err = p.args(prop, 3, 3, "CERT KEY CA"); err == nil {
				e.TLSCert, e.TLSKey, e.TLSCA = args[0], args[1], args[2]
			}
		case "dial-timeout":
			var s string
			if s, err = p.arg(prop, "DURATION"); err == nil {
				d, perr := time.ParseDuration(s)
				if perr != nil || d <= 0 || d > 5*time.Minute {
					return p.c.Errf("dial-timeout: '%s' is not a duration from 1ms to 5m like 5s", s)
				}
				e.DialTimeout = d
			}
		default:
			return p.c.Errf("unknown property '%s' in store etcd (prefix, tls, dial-timeout)", prop)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// webhook reads "webhook NAME URL [{ secret S; events KIND...; timeout D }]".
func (p *parser) webhook() (config.Webhook, error) {
	w := config.Webhook{Pos: p.pos()}
	args := []string{}
	for len(args) < 3 {
		a, ok := p.nextArg()
		if !ok {
			break
		}
		args = append(args, a)
	}
	if len(args) != 2 {
		return w, p.c.Errf("'webhook' needs a name and a URL (usage: webhook NAME URL [{ ... }])")
	}
	w.Name, w.URL = args[0], args[1]
	if p.openBlock() {
		err := p.body("webhook", w.Name, nil, nil, func(prop string) error {
			var err error
			switch prop {
			case "secret":
				w.Secret, err = p.arg(prop, "SECRET")
			case "events":
				w.Events, err = p.args(prop, 1, 8, "KIND...")
			case "timeout":
				var s string
				if s, err = p.arg(prop, "DURATION"); err == nil {
					d, perr := time.ParseDuration(s)
					if perr != nil || d <= 0 {
						return p.c.Errf("timeout: '%s' is not a positive duration like 5s", s)
					}
					w.Timeout = d
				}
			default:
				return p.c.Errf("unknown property '%s' in webhook '%s' (secret, events, timeout)", prop, w.Name)
			}
			return err
		})
		if err != nil {
			return w, err
		}
	}
	return w, nil
}

// dnssec reads "dnssec { key file KEY... }", as CoreDNS's dnssec plugin
// writes it. A relative KEY is taken from the Corefile's directory.
func (p *parser) dnssec() (*config.DNSSEC, error) {
	d := &config.DNSSEC{Pos: p.pos()}
	if !p.openBlock() {
		return nil, p.c.Err("dnssec needs a block: 'dnssec {' then 'key file KEY...' lines and '}'")
	}
	err := p.body("dnssec", "", nil, []string{"key"}, func(prop string) error {
		if prop != "key" {
			return p.c.Errf("unknown property '%s' in dnssec block (key file KEY...)", prop)
		}
		pos := p.pos()
		args := p.c.RemainingArgs()
		if len(args) < 2 || args[0] != "file" {
			return p.c.Err("key: usage 'key file KEY...', KEY the base name of a key pair (KEY.key and KEY.private, as dnssec-keygen writes them)")
		}
		for _, a := range args[1:] {
			// CoreDNS's dnssec plugin takes the base name, or either file.
			a = strings.TrimSuffix(strings.TrimSuffix(a, ".key"), ".private")
			if !filepath.IsAbs(a) {
				a = filepath.Join(filepath.Dir(p.c.File()), a)
			}
			d.Keys = append(d.Keys, config.Key{Pos: pos, Path: a})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// nameServer reads "ns NAME [ADDRESS...]": one server per line, with the
// addresses gtm answers for it when it lies in the zone.
func (p *parser) nameServer() (config.NameServer, error) {
	ns := config.NameServer{Pos: p.pos()}
	args, err := p.args("ns", 1, 1+config.MaxAnswers, "NAME [ADDRESS...]")
	if err != nil {
		return ns, err
	}
	ns.Name = config.Fqdn(args[0])
	if _, err := netip.ParseAddr(args[0]); err == nil {
		return ns, p.c.Errf("ns '%s' is an address: write the server's name first (usage: ns NAME [ADDRESS...])", args[0])
	}
	for _, a := range args[1:] {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return ns, p.c.Errf("ns '%s': '%s' is not an IPv4 or IPv6 address (one name server per line: ns NAME [ADDRESS...])", args[0], a)
		}
		ns.Addrs = append(ns.Addrs, ip)
	}
	return ns, nil
}

type parser struct {
	c     *caddy.Controller
	names map[string]string // see intern
	// arena keeps the configuration's addresses and Props in chunks (see
	// config.Arena); they are gathered in scratch space first, one buffer
	// per nesting depth of blocks for Props.
	arena   config.Arena
	addrs   []config.Address
	rules   []*config.Rule
	members []config.Member
	props   [][]config.Prop
	depth   int
}

// intern returns one copy of a word that is written again and again: a
// property's name, a monitor's. Each token is a string of its own, and the
// configuration would otherwise keep one of each for every object (about
// 5 MB at 100,000 instances). Pool names are not interned: a map of them
// costs more time than it saves.
func (p *parser) intern(s string) string {
	if v, ok := p.names[s]; ok {
		return v
	}
	if p.names == nil {
		p.names = map[string]string{}
	}
	p.names[s] = s
	return s
}

func (p *parser) pos() config.Pos { return config.Pos{File: p.c.File(), Line: p.c.Line()} }

// body reads the properties of a block whose '{' is the current token, calling
// fn with each property name, until the matching '}'. fn must consume the
// rest of its line. Nested blocks are read by calling body again, so this does
// not depend on the dispenser's own nesting count.
//
// body records in props where each property was given, and refuses a second
// one unless repeat lists it: most properties set one value, and a second
// would silently replace the first. kind and name name the block in errors
// ("pool 'a'", or kind alone without a name), put together only for one.
// props may be nil when nothing keeps them.
func (p *parser) body(kind, name string, props *config.Props, repeat []string, fn func(prop string) error) error {
	if props == nil { // not kept: no need of the arena
		props = new(config.Props)
	} else if *props == nil {
		d := p.depth
		if d == len(p.props) {
			p.props = append(p.props, nil)
		}
		*props = p.props[d][:0]
		p.depth++
		defer func() {
			p.depth--
			p.props[d] = (*props)[:0]
			*props = p.arena.Props(*props)
		}()
	}
	if p.c.Val() != "{" {
		return p.c.Errf("unexpected '%s': '{' expected", p.c.Val())
	}
	if next, ok := p.peekLine(); ok {
		return p.c.Errf("'%s' follows '{' on the same line: write a block across lines, each property and the closing '}' on a line of its own", next)
	}
	prev := ""
	for {
		if !p.c.Next() {
			return p.c.EOFErr()
		}
		prop := p.c.Val()
		switch prop {
		case "}":
			return nil
		case "{":
			if prev == "" {
				return p.c.Errf("unexpected '{'")
			}
			return p.c.Errf("unexpected '{' after '%s': it opens no block", prev)
		}
		if err := p.braceInLine(prop); err != nil {
			return err
		}
		if first, ok := props.Get(prop); ok && !slices.Contains(repeat, prop) {
			what := kind
			if name != "" {
				what += " '" + name + "'"
			}
			return p.c.Errf("'%s' is given twice in %s (first at line %d): give it once", prop, what, first.Line)
		} else if !ok {
			props.Set(p.intern(prop), p.pos())
		}
		if err := fn(prop); err != nil {
			return err
		}
		prev = prop
	}
}

// peekLine returns the next token if it is on the current line, without
// consuming it.
func (p *parser) peekLine() (string, bool) {
	d := p.c.Dispenser // a copy: only its cursor moves
	if d.NextArg() {
		return d.Val(), true
	}
	return "", false
}

// braceInLine refuses a '}' on the line of a property. The dispenser reads it
// as a plain argument there, so the block would stay open and the '}' would
// surface in a misleading error ("'}' is neither an IP address...").
func (p *parser) braceInLine(prop string) error {
	d := p.c.Dispenser
	for d.NextArg() {
		if d.Val() == "}" {
			return p.c.Errf("'}' on the line of '%s': write a block across lines, each property and the closing '}' on a line of its own", prop)
		}
	}
	return nil
}

// openBlock reports whether the current line goes on with '{', loading it.
func (p *parser) openBlock() bool {
	return p.c.NextArg() && p.c.Val() == "{"
}

// args reads the rest of the line as prop's arguments and checks their count.
func (p *parser) args(prop string, min, max int, usage string) ([]string, error) {
	args := p.c.RemainingArgs()
	if len(args) < min {
		return nil, p.c.Errf("'%s' is missing a value (usage: %s %s)", prop, prop, usage)
	}
	if len(args) > max {
		return nil, p.c.Errf("'%s' has too many values: %q (usage: %s %s)", prop, strings.Join(args, " "), prop, usage)
	}
	return args, nil
}

// nextArg loads the next argument on the line, as one step of
// RemainingArgs: a '{' is left for openBlock.
func (p *parser) nextArg() (string, bool) {
	d := p.c.Dispenser // a copy: only its cursor moves
	if !d.NextArg() || d.Val() == "{" {
		return "", false
	}
	p.c.NextArg()
	return p.c.Val(), true
}

// arg reads exactly one argument.
func (p *parser) arg(prop, usage string) (string, error) {
	// The common case without RemainingArgs' slice: one per property at
	// 100,000 instances.
	if d := p.c.Dispenser; d.NextArg() && d.Val() != "{" && (!d.NextArg() || d.Val() == "{") {
		v, _ := p.nextArg()
		return v, nil
	}
	args, err := p.args(prop, 1, 1, usage)
	if err != nil {
		return "", err
	}
	return args[0], nil
}

func (p *parser) pool() (*config.Pool, error) {
	pos := p.pos()
	name, err := p.arg("pool", "NAME {")
	if err != nil {
		return nil, err
	}
	pool := p.arena.Pool(pos, name)
	if !p.openBlock() {
		return nil, p.c.Errf("pool '%s' needs a block of addresses: '{' expected at the end of the line", name)
	}
	addrs := p.addrs[:0]
	err = p.body("pool", name, &pool.Props, []string{"address"}, func(prop string) error {
		switch prop {
		case "address":
			var err error
			addrs, err = p.addresses(addrs, prop, true)
			if err != nil {
				return err
			}
		case "method":
			// "method hash [IPV4-BITS [IPV6-BITS]]": the prefix lengths
			// of the client's address the hash keys on.
			args, err := p.args(prop, 1, 3, "all|weight|sequence|hash [IPV4-BITS [IPV6-BITS]]")
			if err != nil {
				return err
			}
			m, ok := config.ParseMethod(args[0])
			if !ok {
				return p.c.Errf("unknown method '%s' (one of all, weight, sequence, hash)", args[0])
			}
			pool.Method = m
			if len(args) > 1 && m != config.MethodHash {
				return p.c.Errf("method %s takes no values, got %q (only hash takes prefix lengths)", m, strings.Join(args[1:], " "))
			}
			for i, a := range args[1:] {
				n, err := strconv.Atoi(a)
				if err != nil {
					return p.c.Errf("hash prefix length '%s' is not a whole number (like 24 for IPv4, 56 for IPv6)", a)
				}
				if i == 0 {
					pool.HashV4 = n
					pool.Props.Set("hash-ipv4", p.pos())
				} else {
					pool.HashV6 = n
					pool.Props.Set("hash-ipv6", p.pos())
				}
			}
		case "max-answers":
			s, err := p.arg(prop, "COUNT")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return p.c.Errf("max-answers '%s' is not a whole number", s)
			}
			pool.MaxAnswers = n
		case "min-available":
			t, err := p.threshold(prop)
			pool.MinAvailable = t
			return err
		case "monitor":
			m, err := p.arg(prop, "NAME")
			pool.Monitor = p.intern(m)
			return err
		case "location":
			args, err := p.args(prop, 2, 2, "LATITUDE LONGITUDE")
			if err != nil {
				return err
			}
			var deg [2]float64
			for i, a := range args {
				f, err := strconv.ParseFloat(a, 64)
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					return p.c.Errf("%s '%s' is not a number of decimal degrees", [2]string{"latitude", "longitude"}[i], a)
				}
				deg[i] = f
			}
			pool.Location = &config.Location{Lat: deg[0], Lon: deg[1]}
		case "bias":
			s, err := p.arg(prop, "BIAS")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return p.c.Errf("bias '%s' is not a whole number (-99 to 99)", s)
			}
			pool.Bias = n
		default:
			return p.c.Errf("unknown property '%s' in pool '%s'", prop, name)
		}
		return nil
	})
	pool.Addresses = p.arena.Addresses(addrs) // together, not one object each
	p.addrs = addrs[:0]
	return pool, err
}

// addresses reads "VALUE... [weight W] [mode M] [monitor NAME] [probe TARGET]".
// Options apply to every value on the line; they are allowed only for pool
// addresses, not fallbacks. It appends them to addrs.
func (p *parser) addresses(addrs []config.Address, prop string, options bool) ([]config.Address, error) {
	pos := p.pos()
	args := p.c.RemainingArgs()
	weight, mode := config.DefaultWeight, config.ModeAuto
	var monitor, probe string
	first := len(addrs)
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case options && (a == "weight" || a == "mode" || a == "monitor" || a == "probe"):
			if i+1 == len(args) {
				return nil, p.c.Errf("'%s' needs a value after '%s'", prop, a)
			}
			i++
			switch a {
			case "monitor":
				monitor = p.intern(args[i])
				continue
			case "probe":
				probe = args[i]
				continue
			}
			if a == "weight" {
				w, err := strconv.Atoi(args[i])
				if err != nil {
					return nil, p.c.Errf("weight '%s' is not a whole number", args[i])
				}
				weight = w
				continue
			}
			m, ok := config.ParseMode(args[i])
			if !ok {
				return nil, p.c.Errf("unknown mode '%s' (one of auto, up, down)", args[i])
			}
			mode = m
		default:
			addr, err := config.ParseAddressValue(pos, a)
			if err != nil {
				return nil, p.c.Errf("%v", err)
			}
			addrs = append(addrs, addr)
		}
	}
	if len(addrs) == first {
		return nil, p.c.Errf("'%s' is missing a value (an IPv4 or IPv6 address or a domain name)", prop)
	}
	for i := range addrs[first:] {
		a := &addrs[first+i]
		a.Weight, a.Mode, a.Monitor, a.Probe = weight, mode, monitor, probe
	}
	return addrs, nil
}

func (p *parser) method(prop string) (config.Method, error) {
	return keyword(p, prop, "all|weight|sequence", config.ParseMethod)
}

// keyword reads prop's one value, which must be one of choices ("a|b|c").
func keyword[T any](p *parser, prop, choices string, parse func(string) (T, bool)) (T, error) {
	s, err := p.arg(prop, choices)
	if err != nil {
		var zero T
		return zero, err
	}
	v, ok := parse(s)
	if !ok {
		return v, p.c.Errf("unknown %s '%s' (one of %s)", prop, s, strings.ReplaceAll(choices, "|", ", "))
	}
	return v, nil
}

// onOff reads "on" or "off".
func onOff(s string) (bool, bool) { return s == "on", s == "on" || s == "off" }

// threshold reads "COUNT" or "PERCENT%".
func (p *parser) threshold(prop string) (config.Threshold, error) {
	s, err := p.arg(prop, "COUNT|PERCENT%")
	if err != nil {
		return config.Threshold{}, err
	}
	t, err := config.ParseThreshold(s)
	if err != nil {
		return t, p.c.Errf("%v", err)
	}
	return t, nil
}

// instanceName makes a managed name absolute: "@" is the zone apex, a name
// ending in a dot is absolute, any other is relative to the (single) zone.
func (p *parser) instanceName(s string, zones []string) (string, error) {
	if _, ok := dns.IsDomainName(s); !ok && s != "@" {
		return "", p.c.Errf("instance name '%s' is not a valid domain name", s)
	}
	if dns.IsFqdn(s) {
		return strings.ToLower(s), nil
	}
	if len(zones) != 1 {
		return "", p.c.Errf("instance name '%s' is relative but the plugin serves %d zones; write it fully qualified (ending in '.')", s, len(zones))
	}
	if s == "@" {
		return zones[0], nil
	}
	return strings.ToLower(config.Join(s, zones[0])), nil
}

func (p *parser) instance(zones []string) (*config.Instance, error) {
	pos := p.pos()
	arg, err := p.arg("instance", "NAME {")
	if err != nil {
		return nil, err
	}
	name, err := p.instanceName(arg, zones)
	if err != nil {
		return nil, err
	}
	in := p.arena.Instance(pos, name)
	if !p.openBlock() {
		return nil, p.c.Errf("instance '%s' needs a block: '{' expected at the end of the line", arg)
	}
	// primary/secondary written directly in the instance form its default rule.
	var def *config.Rule
	in.Rules = p.rules[:0] // into the arena at the end
	err = p.body("instance", arg, &in.Props, []string{"rule"}, func(prop string) error {
		switch prop {
		case "ttl":
			s, err := p.arg(prop, "SECONDS|DURATION")
			if err != nil {
				return err
			}
			ttl, err := p.ttl(s)
			in.TTL = ttl
			return err
		case "switch":
			m, err := keyword(p, prop, "auto|primary|secondary", config.ParseSwitch)
			in.Switch = m
			return err
		case "all-down":
			return p.allDown(in)
		case "policy":
			pol, err := keyword(p, prop, "geo|latency|nearest", config.ParsePolicy)
			in.Policy = pol
			return err
		case "ecs":
			on, err := keyword(p, prop, "on|off", onOff)
			in.IgnoreECS = !on
			return err
		case "tie":
			args, err := p.args(prop, 1, 2, "[PERCENT%] [DURATION|DISTANCEkm]")
			if err != nil {
				return err
			}
			in.TiePercent, in.Tie, in.TieKm = 0, 0, 0
			for _, a := range args {
				if km, ok := strings.CutSuffix(a, "km"); ok {
					n, err := strconv.Atoi(km)
					if err != nil {
						return p.c.Errf("tie '%s' is not a distance in whole kilometres like 100km", a)
					}
					in.TieKm = n
					continue
				}
				if pct, ok := strings.CutSuffix(a, "%"); ok {
					n, err := strconv.Atoi(pct)
					if err != nil {
						return p.c.Errf("tie '%s' is not a share like 10%%", a)
					}
					in.TiePercent = n
					continue
				}
				d, err := time.ParseDuration(a)
				if err != nil {
					return p.c.Errf("tie '%s' is neither a share like 10%% nor a duration like 5ms", a)
				}
				in.Tie = d
			}
		case "failback":
			f, err := keyword(p, prop, "preemptive|manual", config.ParseFailback)
			in.Failback = f
			return err
		case "failover":
			f, err := keyword(p, prop, "together|separate", config.ParseFailover)
			in.Failover = f
			return err
		case "https", "svcb":
			v, err := p.svc(prop)
			if prop == "https" {
				in.HTTPS = v
			} else {
				in.SVCB = v
			}
			return err
		case "degraded-ttl":
			s, err := p.arg(prop, "SECONDS|DURATION")
			if err != nil {
				return err
			}
			ttl, err := p.ttl(s)
			in.DegradedTTL = ttl
			return err
		case "primary", "secondary":
			if def == nil {
				def = p.arena.Rule()
				*def = config.Rule{Pos: p.pos(), Match: config.MatchDefault}
				in.Rules = append(in.Rules, def)
			}
			return p.collectionInto(def, prop)
		case "rule":
			r, err := p.rule()
			if err != nil {
				return err
			}
			in.Rules = append(in.Rules, r)
		default:
			return p.c.Errf("unknown property '%s' in instance '%s'", prop, arg)
		}
		return nil
	})
	p.rules = in.Rules[:0]
	in.Rules = p.arena.Rules(in.Rules)
	return in, err
}

// svc reads "https|svcb [{ alpn ID...; port PORT; ech BASE64 }]": the
// instance answers that type, with these parameters besides the hints.
func (p *parser) svc(kind string) (*config.SVC, error) {
	v := &config.SVC{}
	if extra, ok := p.nextArg(); ok {
		return nil, p.c.Errf("%s: unexpected '%s' (usage: %s [{ alpn ID...; port PORT; ech BASE64 }], the block across lines)", kind, extra, kind)
	}
	if !p.openBlock() {
		return v, nil
	}
	err := p.body(kind, "", nil, nil, func(prop string) error {
		switch prop {
		case "alpn":
			ids, err := p.args(prop, 1, 16, "ID...")
			v.ALPN = ids
			return err
		case "port":
			s, err := p.arg(prop, "PORT")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 65535 {
				return p.c.Errf("port '%s' is not a port from 1 to 65535", s)
			}
			v.Port = n
		case "ech":
			s, err := p.arg(prop, "BASE64")
			v.ECH = s
			return err
		default:
			return p.c.Errf("unknown property '%s' in %s (alpn, port, ech)", prop, kind)
		}
		return nil
	})
	return v, err
}

// ttl reads whole seconds ("30") or a duration ("30s", "5m"); Validate
// checks the range.
func (p *parser) ttl(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, p.c.Errf("ttl '%s' is not a number of seconds or a duration like 30s", s)
	}
	if d < 0 || d%time.Second != 0 || d/time.Second > math.MaxUint32 {
		return 0, p.c.Errf("ttl '%s' must be whole seconds from 1s to %ds", s, config.MaxTTL)
	}
	return uint32(d / time.Second), nil
}

func (p *parser) allDown(in *config.Instance) error {
	if !p.c.NextArg() {
		return p.c.Errf("'all-down' is missing a value (fail-open, nodata, servfail or fallback ADDRESS...)")
	}
	s := p.c.Val()
	a, ok := config.ParseAllDown(s)
	if !ok {
		return p.c.Errf("unknown all-down behaviour '%s' (one of fail-open, nodata, servfail, fallback)", s)
	}
	in.AllDown = a
	if a != config.Fallback {
		if rest := p.c.RemainingArgs(); len(rest) > 0 {
			return p.c.Errf("'all-down %s' takes no values, got %q", s, strings.Join(rest, " "))
		}
		return nil
	}
	addrs, err := p.addresses(p.addrs[:0], "all-down fallback", false)
	if err != nil {
		return err
	}
	in.Fallbacks = p.arena.Addresses(addrs)
	p.addrs = addrs[:0]
	return nil
}

// rule reads "rule MATCH [VALUES...] { primary ...; secondary ... }".
func (p *parser) rule() (*config.Rule, error) {
	r := p.arena.Rule()
	*r = config.Rule{Pos: p.pos()}
	args := p.c.RemainingArgs()
	if len(args) == 0 {
		return nil, p.c.Errf("'rule' is missing its match (usage: rule default {)")
	}
	match, ok := config.ParseMatchKind(args[0])
	if !ok {
		return nil, p.c.Errf("unknown rule match '%s' (one of default, continent, country, subdivision, cidr, asn)", args[0])
	}
	r.Match = match
	if len(args) > 1 {
		r.Values = args[1:]
	}
	if !p.openBlock() {
		return nil, p.c.Errf("rule '%s' needs a block: '{' expected at the end of the line", r.Match)
	}
	err := p.body("rule", r.Name(), nil, nil, func(prop string) error {
		switch prop {
		case "primary", "secondary":
			return p.collectionInto(r, prop)
		}
		return p.c.Errf("unknown property '%s' in rule '%s'", prop, r.Match)
	})
	return r, err
}

// collectionInto reads "primary|secondary [POOL...] [{ pool NAME [weight W];
// method M; min-available N }]" into the rule.
func (p *parser) collectionInto(r *config.Rule, which string) error {
	col := p.arena.Collection(p.pos())
	col.Members = p.members[:0] // into the arena at the end
	defer func() {
		p.members = col.Members[:0]
		col.Members = p.arena.Members(col.Members)
	}()
	for name, ok := p.nextArg(); ok; name, ok = p.nextArg() {
		col.Members = append(col.Members, config.NewMember(col.Pos, p.arena.String(name)))
	}
	if p.openBlock() {
		what := "the primary collection"
		if which == "secondary" {
			what = "the secondary collection"
		}
		err := p.body(what, "", &col.Props, []string{"pool"}, func(prop string) error {
			switch prop {
			case "pool":
				pos := p.pos()
				args, err := p.args(prop, 1, 3, "NAME [weight W]")
				if err != nil {
					return err
				}
				m := config.NewMember(pos, p.arena.String(args[0]))
				if len(args) > 1 {
					if args[1] != "weight" || len(args) != 3 {
						return p.c.Errf("unexpected %q after pool '%s' (usage: pool NAME [weight W])", strings.Join(args[1:], " "), args[0])
					}
					if m.Weight, err = strconv.Atoi(args[2]); err != nil {
						return p.c.Errf("weight '%s' is not a whole number", args[2])
					}
				}
				col.Members = append(col.Members, m)
			case "method":
				m, err := p.method(prop)
				col.Method = m
				return err
			case "min-available":
				t, err := p.threshold(prop)
				col.MinAvailable = t
				return err
			default:
				return p.c.Errf("unknown property '%s' in %s collection", prop, which)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if which == "primary" {
		r.Primary = col
	} else {
		r.Secondary = col
	}
	return nil
}
