package engine

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// explainLabel prefixes an instance name in a debug query:
// "dig TXT _explain.www.gtm.example.net +subnet=198.51.100.0/24" answers
// why that client gets what it gets.
const explainLabel = "_explain."

// explainAllowed reports whether explain is on and src may use it.
func explainAllowed(s *snapshot, src netip.Addr) bool {
	for _, p := range s.cfg.ExplainFrom {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// explain fills m with TXT records describing the decision for the client.
func (e *Engine) explain(m *dns.Msg, s *snapshot, qname string, in *instance, c clientAddr, ecs *dns.EDNS0_SUBNET) {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	kind := config.PolicyGeo
	if in.latency {
		kind = config.PolicyLatency
	}
	add("instance %s policy %s, %s", in.name, kind, count(len(in.rules), "rule"))
	switch {
	case !in.byClient:
		add("client: not used (only a default rule)")
	case c.fromECS:
		add("client %s/%d from the ECS option", c.addr, ecs.SourceNetmask)
	case ecs != nil && in.ignoreECS:
		add("client %s (query source; ECS ignored: ecs off)", c.addr)
	default:
		add("client %s (query source)", c.addr)
	}
	if in.geo && c.addr.IsValid() {
		if db := e.geo.Load(); db != nil {
			loc, bits, found := db.Lookup(c.addr)
			net := netip.PrefixFrom(c.addr, bits).Masked()
			if found {
				add("geoip %s: continent %s country %s subdivision %s (%s)", net, orDash(loc.Continent), orDash(loc.Country), orDash(loc.Subdivision), db.Kind())
			} else {
				add("geoip %s: not in the database (%s)", net, db.Kind())
			}
		}
	}
	r, scope := e.decide(in, c)
	scope = ecsScope(in, c, scope)
	add("rule %s", r.name)
	add("state %s: %s", r.state, r.why)
	if sw, scope, ok := s.over.pin(in.name, r.name); ok {
		instead := in.src.Switch
		if scope == "rule" {
			instead = s.over.Switch(in.src)
		}
		add("switch %s: the %s is pinned by an operator (instead of %s)", sw, scope, instead)
	}
	ttl := fmt.Sprint(r.ttl)
	if r.degraded {
		ttl += " (degraded)"
	}
	add("ttl %s, ecs scope %d", ttl, scope)
	for _, col := range []struct {
		name string
		c    *policy.Collection
	}{{"primary", r.primary}, {"secondary", r.secondary}} {
		if col.c == nil {
			continue
		}
		add("collection %s: %s, %d of %d pools available, method %s", col.name, availableWord(col.c.Available), len(col.c.Avail), len(col.c.Members), col.c.Method)
		for _, mem := range col.c.Members {
			p := mem.Pool
			add("  pool %s: %s, %d of %d addresses usable, method %s, weight %d", p.Name, availableWord(p.Available), p.Usable, p.Total, p.Method, mem.Weight)
			e.explainAddresses(&lines, s, p.Name)
		}
	}
	if r.active != nil && in.latency && (r.state == StatePrimary || r.state == StateSecondary) {
		var names []string
		for _, mem := range r.active.Avail {
			names = append(names, mem.Pool.Name)
		}
		add("latency: answering from %s (the fastest measured pools within the tie band; all when none is measured)", strings.Join(names, ", "))
	}
	for _, l := range lines {
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: chunk(printable(l))})
	}
}

// explainAddresses describes each address as the snapshot that made the
// answer saw it, not as the live table has it since.
func (e *Engine) explainAddresses(lines *[]string, s *snapshot, pool string) {
	cp, compiled := s.idx.pools.get(pool), s.pools.get(pool)
	if cp == nil || compiled == nil {
		return
	}
	for i, a := range cp.Addresses {
		var rec health.Record
		probed := false
		if compiled.records != nil {
			rec, probed = compiled.records[i], compiled.probed[i]
		}
		mode := s.over.Mode(pool, a)
		line := fmt.Sprintf("    address %s: mode %s, health %s", a.Value(), mode, rec.Status)
		if probed && !rec.Last.Start.IsZero() {
			ago := time.Since(rec.Last.Start).Round(time.Millisecond)
			if rec.Last.OK {
				line += fmt.Sprintf(", last probe passed in %s, %s ago", ascii(rec.Last.RTT.Round(time.Microsecond)), ascii(ago))
			} else {
				line += fmt.Sprintf(", last probe failed (%v), %s ago", rec.Last.Err, ascii(ago))
			}
			if rec.Latency.Samples > 0 {
				line += fmt.Sprintf(", latency %s from %s", ascii(rec.Latency.EWMA.Round(time.Microsecond)), rec.Latency.Vantage)
			}
		} else if mode == config.ModeAuto {
			line += ", not probed"
		}
		if s.over.overridden(health.Key{Pool: pool, Address: a.Value()}) {
			line += fmt.Sprintf(" (operator override; configured %s)", a.Mode)
		}
		*lines = append(*lines, line)
	}
}

// ascii writes a duration in ASCII: "716us", not Go's "716µs", which dig
// shows as "716\194\181s".
func ascii(d time.Duration) string { return strings.Replace(d.String(), "µ", "u", 1) }

// count is "1 rule", "3 rules".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printable keeps a line to printable ASCII, escaping anything else (a
// name or an error message from elsewhere) as \uXXXX, so that every
// resolver and terminal shows the same text.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			var b strings.Builder
			for _, r := range s {
				if r >= 0x20 && r <= 0x7e {
					b.WriteRune(r)
				} else {
					fmt.Fprintf(&b, "\\u%04x", r)
				}
			}
			return b.String()
		}
	}
	return s
}

func availableWord(ok bool) string {
	if ok {
		return "available"
	}
	return "not available"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// chunk splits a line into TXT strings of at most 255 bytes.
func chunk(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
