package gtm

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/miekg/dns"
)

// monitorOptions lists, for each option that applies to some protocols only,
// the protocols it applies to.
var monitorOptions = map[string][]config.Protocol{
	"port":             {config.ProtoTCP, config.ProtoHTTP, config.ProtoHTTPS},
	"tls":              {config.ProtoTCP},
	"method":           {config.ProtoHTTP, config.ProtoHTTPS},
	"host":             {config.ProtoHTTP, config.ProtoHTTPS},
	"path":             {config.ProtoHTTP, config.ProtoHTTPS},
	"expect":           {config.ProtoHTTP, config.ProtoHTTPS},
	"body":             {config.ProtoHTTP, config.ProtoHTTPS},
	"body-regexp":      {config.ProtoHTTP, config.ProtoHTTPS},
	"header":           {config.ProtoHTTP, config.ProtoHTTPS},
	"follow-redirects": {config.ProtoHTTP, config.ProtoHTTPS},
	"redirect-hosts":   {config.ProtoHTTP, config.ProtoHTTPS},
	"tls-skip-verify":  {config.ProtoTCP, config.ProtoHTTPS},
	"tls-server-name":  {config.ProtoTCP, config.ProtoHTTPS},
	"count":            {config.ProtoPing},
	"max-loss":         {config.ProtoPing},
}

// monitor reads "monitor NAME { protocol P; interval D; ... }".
func (p *parser) monitor() (*config.Monitor, error) {
	pos := p.pos()
	name, err := p.arg("monitor", "NAME {")
	if err != nil {
		return nil, err
	}
	if name, err = p.name("monitor", name); err != nil {
		return nil, err
	}
	m := config.NewMonitor(pos, name)
	if !p.openBlock() {
		return nil, p.c.Errf("monitor '%s' needs a block: '{' expected at the end of the line", name)
	}
	set := map[string]int{} // option -> line, to check against the protocol at the end
	err = p.body("monitor '"+name+"'", m.Props, []string{"header", "expect"}, func(prop string) error {
		set[prop] = p.c.Line()
		switch prop {
		case "protocol":
			pr, err := keyword(p, prop, "ping|tcp|http|https", config.ParseProtocol)
			m.Protocol = pr
			return err
		case "interval", "timeout":
			s, err := p.arg(prop, "DURATION")
			if err != nil {
				return err
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return p.c.Errf("%s '%s' is not a duration like 5s or 500ms", prop, s)
			}
			if prop == "interval" {
				m.Interval = d
			} else {
				m.Timeout = d
			}
		case "rise", "fall", "port", "count":
			s, err := p.arg(prop, "NUMBER")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return p.c.Errf("%s '%s' is not a whole number", prop, s)
			}
			switch prop {
			case "rise":
				m.Rise = n
			case "fall":
				m.Fall = n
			case "port":
				m.Port = n
				if n < 1 || n > 65535 {
					return p.c.Errf("port %d is out of range (1 to 65535)", n)
				}
			case "count":
				m.Count = n
			}
		case "max-loss":
			s, err := p.arg(prop, "PERCENT%")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
			if err != nil || !strings.HasSuffix(s, "%") {
				return p.c.Errf("max-loss '%s' is not a share like 20%%", s)
			}
			m.MaxLoss = n
		case "tls", "tls-skip-verify":
			if _, err := p.args(prop, 0, 0, ""); err != nil {
				return err
			}
			if prop == "tls" {
				m.TLS = true
			} else {
				m.SkipVerify = true
			}
		case "follow-redirects":
			args, err := p.args(prop, 0, 1, "[COUNT]")
			if err != nil {
				return err
			}
			m.MaxRedirects = config.DefaultRedirects
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 || n > config.MaxRedirects {
					return p.c.Errf("follow-redirects '%s' is not a count from 1 to %d", args[0], config.MaxRedirects)
				}
				m.MaxRedirects = n
			}
		case "redirect-hosts":
			args, err := p.args(prop, 1, 32, "NAME...")
			if err != nil {
				return err
			}
			for _, a := range args {
				if ip, err := netip.ParseAddr(a); err == nil {
					m.RedirectHosts = append(m.RedirectHosts, ip.String())
					continue
				}
				if _, ok := dns.IsDomainName(a); !ok || strings.ContainsAny(a, ":/") {
					return p.c.Errf("redirect host '%s' is not a host name or address (no port, scheme or path)", a)
				}
				m.RedirectHosts = append(m.RedirectHosts, strings.ToLower(strings.TrimSuffix(a, ".")))
			}
		case "method":
			s, err := p.arg(prop, "GET|HEAD|POST|...")
			if err != nil {
				return err
			}
			if s != strings.ToUpper(s) || strings.ContainsAny(s, " /:") {
				return p.c.Errf("method '%s' is not an HTTP method in capitals, like GET or HEAD", s)
			}
			m.Method = s
		case "host", "tls-server-name":
			s, err := p.arg(prop, "NAME")
			if err != nil {
				return err
			}
			if prop == "host" {
				m.Host = s
			} else {
				m.ServerName = s
			}
		case "path":
			s, err := p.arg(prop, "/PATH")
			if err != nil {
				return err
			}
			if !strings.HasPrefix(s, "/") {
				return p.c.Errf("path '%s' must start with '/'", s)
			}
			m.Path = s
		case "expect":
			args, err := p.args(prop, 1, 32, "CODE|LOW-HIGH...")
			if err != nil {
				return err
			}
			for _, a := range args {
				r, ok := statusRange(a)
				if !ok {
					return p.c.Errf("expected status '%s' is not a code or a range like 200-299 within 100-599", a)
				}
				m.Expect = append(m.Expect, r)
			}
		case "body":
			s, err := p.arg(prop, "TEXT")
			if err != nil {
				return err
			}
			m.BodyMatch = s
		case "body-regexp":
			s, err := p.arg(prop, "REGEXP")
			if err != nil {
				return err
			}
			re, err := regexp.Compile(s)
			if err != nil {
				return p.c.Errf("body-regexp '%s' does not compile: %v", s, err)
			}
			m.BodyRegexp = re
		case "header":
			args, err := p.args(prop, 2, 2, "NAME VALUE")
			if err != nil {
				return err
			}
			if strings.EqualFold(args[0], "Host") {
				return p.c.Errf("'header %s' is not allowed: set the Host header with 'host %s'", args[0], args[1])
			}
			m.Headers = append(m.Headers, [2]string{args[0], args[1]})
		default:
			delete(set, prop)
			return p.c.Errf("unknown property '%s' in monitor '%s'", prop, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for opt, line := range set {
		allowed, ok := monitorOptions[opt]
		if !ok || m.Protocol == 0 {
			continue
		}
		if !slices.Contains(allowed, m.Protocol) {
			return nil, config.Pos{File: pos.File, Line: line}.Errorf("option '%s' does not apply to a %s monitor ('%s')", opt, m.Protocol, name)
		}
	}
	if m.BodyMatch != "" && m.BodyRegexp != nil {
		return nil, pos.Errorf("monitor '%s' has both body and body-regexp: choose one", name)
	}
	return m, nil
}

// statusRange reads "200" or "200-299".
func statusRange(s string) (config.StatusRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	l, err := strconv.Atoi(lo)
	if err != nil {
		return config.StatusRange{}, false
	}
	h := l
	if isRange {
		if h, err = strconv.Atoi(hi); err != nil {
			return config.StatusRange{}, false
		}
	}
	if l < 100 || h > 599 || l > h {
		return config.StatusRange{}, false
	}
	return config.StatusRange{Lo: l, Hi: h}, true
}
