// Package config holds gtm's configuration model (DESIGN.md §2) and the one
// validation that every source of configuration goes through: the Corefile
// today, the control API later. A Config is plain data; the plugin compiles a
// validated Config into the immutable snapshot that answers queries.
package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Pos is where a configuration item was written, so that every error can name
// the place. File is the Corefile's path (or an API path later).
type Pos struct {
	File string
	Line int
}

// Errorf returns an error that names the position, in the format CoreDNS's
// own Corefile errors use. A position without a line (from JSON) is a path.
func (p Pos) Errorf(format string, args ...any) error {
	if p.Line == 0 && p.File != "" {
		return fmt.Errorf("%s: %s", p.File, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s:%d - Error during parsing: %s", p.File, p.Line, fmt.Sprintf(format, args...))
}

// Where names the position in a message: "line 12", or a path from JSON.
func (p Pos) Where() string {
	if p.Line == 0 && p.File != "" {
		return p.File
	}
	return fmt.Sprintf("line %d", p.Line)
}

// Props records where each property of an object was given, so that a rule
// about a property can name its line and can tell a value given on purpose
// from a default. A source without lines (the API) records the position it
// has for every property it was given.
//
// It is a short list, nil until a property is given, not a map: an object
// has a few properties, and at 100,000 pools and instances a map per object
// cost more heap than the objects themselves.
type Props []Prop

// Prop is where one property was given.
type Prop struct {
	Name string
	Pos  Pos
}

// Get is where prop was given, and whether it was.
func (p Props) Get(prop string) (Pos, bool) {
	for i := range p {
		if p[i].Name == prop {
			return p[i].Pos, true
		}
	}
	return Pos{}, false
}

// Has reports whether prop was given.
func (p Props) Has(prop string) bool {
	_, ok := p.Get(prop)
	return ok
}

// Set records that prop was given at pos, replacing an earlier record.
func (p *Props) Set(prop string, pos Pos) {
	for i := range *p {
		if (*p)[i].Name == prop {
			(*p)[i].Pos = pos
			return
		}
	}
	*p = append(*p, Prop{prop, pos})
}

// At is where prop was given, or def when it was not.
func (p Props) At(prop string, def Pos) Pos {
	if pos, ok := p.Get(prop); ok {
		return pos
	}
	return def
}

// Type is the record type a pool serves.
type Type uint8

const (
	TypeA     Type = iota + 1 // IPv4 addresses
	TypeAAAA                  // IPv6 addresses
	TypeCNAME                 // domain names
)

func (t Type) String() string {
	switch t {
	case TypeA:
		return "A"
	case TypeAAAA:
		return "AAAA"
	case TypeCNAME:
		return "CNAME"
	}
	return "unknown"
}

// Mode is an address's administrative mode.
type Mode uint8

const (
	ModeAuto Mode = iota // health decides
	ModeUp               // forced healthy
	ModeDown             // forced out of every answer, for maintenance
)

var modeNames = []string{"auto", "up", "down"}

func (m Mode) String() string { return modeNames[m] }

// ParseMode reads a mode keyword.
func ParseMode(s string) (Mode, bool) { return parseName[Mode](modeNames, s) }

// Method is how addresses are chosen within a pool, or pools within a
// collection.
type Method uint8

const (
	MethodAll      Method = iota // every available one, order rotated per query
	MethodWeight                 // drawn at random in proportion to weight
	MethodSequence               // the first available ones in configured order
	MethodHash                   // the same ones for a client subnet: rendezvous hashing by weight (pools only)
)

var methodNames = []string{"all", "weight", "sequence", "hash"}

func (m Method) String() string { return methodNames[m] }

// ParseMethod reads a method keyword.
func ParseMethod(s string) (Method, bool) { return parseName[Method](methodNames, s) }

// Switch is an instance's switch mode.
type Switch uint8

const (
	SwitchAuto      Switch = iota // primary while available, else secondary
	SwitchPrimary                 // pinned to the primary collection
	SwitchSecondary               // pinned to the secondary collection
)

var switchNames = []string{"auto", "primary", "secondary"}

func (s Switch) String() string { return switchNames[s] }

// ParseSwitch reads a switch-mode keyword.
func ParseSwitch(s string) (Switch, bool) { return parseName[Switch](switchNames, s) }

// AllDown is what an instance answers when no collection is available.
type AllDown uint8

const (
	FailOpen AllDown = iota // the primary's addresses, health ignored (forced-down ones still left out)
	NoData                  // NOERROR with no answer and the SOA
	ServFail                // SERVFAIL
	Fallback                // fixed fallback addresses
)

var allDownNames = []string{"fail-open", "nodata", "servfail", "fallback"}

func (a AllDown) String() string { return allDownNames[a] }

// ParseAllDown reads an all-down keyword.
func ParseAllDown(s string) (AllDown, bool) { return parseName[AllDown](allDownNames, s) }

// Threshold is an availability rule: at least Count members, or at least
// Percent of them, must be available. Exactly one of the two is set.
type Threshold struct {
	Count   int
	Percent int
}

func (t Threshold) String() string {
	if t.Percent != 0 {
		return fmt.Sprintf("%d%%", t.Percent)
	}
	return fmt.Sprintf("%d", t.Count)
}

// ParseThreshold reads "COUNT" or "PERCENT%". Validate checks the range.
func ParseThreshold(s string) (Threshold, error) {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		if n, err := strconv.Atoi(pct); err == nil {
			return Threshold{Percent: n}, nil
		}
	} else if n, err := strconv.Atoi(s); err == nil {
		return Threshold{Count: n}, nil
	}
	return Threshold{}, fmt.Errorf("min-available '%s' is not a count of at least 1 or a share like 50%%", s)
}

// Need is how many of total members must be available under t.
func (t Threshold) Need(total int) int {
	if t.Percent > 0 {
		return (t.Percent*total + 99) / 100
	}
	return t.Count
}

// Address is one endpoint of a pool.
type Address struct {
	Pos
	IP     netip.Addr // for A and AAAA pools
	Domain string     // for CNAME pools, fully qualified and lower case
	Weight int
	Mode   Mode

	Monitor string // overrides the pool's monitor for this address
	Probe   string // probe this host (IP or name) instead of the answered value
}

// NewAddress returns an address with every default filled in.
func NewAddress(pos Pos) *Address { return &Address{Pos: pos, Weight: DefaultWeight} }

// ParseAddress reads one endpoint: an IP address, or a domain name that is
// not all digits in its last label (so that "300.1.1.1" is an error, not a
// name), made fully qualified and lower case.
func ParseAddress(pos Pos, s string) (*Address, error) {
	a, err := ParseAddressValue(pos, s)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ParseAddressValue is ParseAddress without an allocation of its own, for
// readers that keep a pool's addresses together (see Arena).
func ParseAddressValue(pos Pos, s string) (Address, error) {
	a := Address{Pos: pos, Weight: DefaultWeight}
	if ip, err := netip.ParseAddr(s); err == nil {
		a.IP = ip
		return a, nil
	}
	labels := dns.SplitDomainName(s)
	if _, ok := dns.IsDomainName(s); ok && len(labels) > 1 && !allDigits(labels[len(labels)-1]) {
		a.Domain = Fqdn(s)
		return a, nil
	}
	return Address{}, fmt.Errorf("'%s' is neither an IP address nor a domain name", s)
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Fqdn is name fully qualified and in lower case, as the model holds names.
func Fqdn(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// Value is the address as written in answers.
func (a *Address) Value() string {
	if a.Domain != "" {
		return a.Domain
	}
	return a.IP.String()
}

// Type is the record type the address is served as.
func (a *Address) Type() Type {
	switch {
	case a.Domain != "":
		return TypeCNAME
	case a.IP.Is4():
		return TypeA
	default:
		return TypeAAAA
	}
}

// Pool is a named set of addresses of one type.
type Pool struct {
	Pos
	Name         string
	Type         Type // set explicitly, or taken from the first address
	Addresses    []*Address
	Method       Method
	MaxAnswers   int // 0: the method's default (all: every one; weight, sequence: 1)
	MinAvailable Threshold
	Monitor      string    // health check for every address; "" for none
	Location     *Location // where the pool's site is; nil: not given
	Bias         int       // nearest: distances to the pool count (100-Bias)% (MinBias to MaxBias)
	HashV4       int       // hash method: the IPv4 client prefix length it keys on; 0: DefaultHashV4
	HashV6       int       // ... and the IPv6 one; 0: DefaultHashV6
	Props        Props     // where each property was given
}

// Location is a point on the earth in decimal degrees: latitude -90 (south)
// to 90 (north), longitude -180 (west) to 180 (east).
type Location struct {
	Lat, Lon float64
}

// NewPool returns a pool with every default filled in.
func NewPool(pos Pos, name string) *Pool {
	p := newPool(pos, name)
	return &p
}

func newPool(pos Pos, name string) Pool {
	return Pool{Pos: pos, Name: name, MinAvailable: DefaultThreshold}
}

// Member is a pool's place in a collection.
type Member struct {
	Pos
	Pool   string
	Weight int
}

// NewMember returns a pool's place in a collection with the default weight.
func NewMember(pos Pos, pool string) Member {
	return Member{Pos: pos, Pool: pool, Weight: DefaultWeight}
}

// Collection is a list of pools used together for one answer.
type Collection struct {
	Pos
	Members      []Member
	Method       Method
	MinAvailable Threshold
	Props        Props // where each property was given
}

// NewCollection returns a collection with every default filled in.
func NewCollection(pos Pos) *Collection {
	c := newCollection(pos)
	return &c
}

func newCollection(pos Pos) Collection {
	return Collection{Pos: pos, MinAvailable: DefaultThreshold}
}

// Rule maps where a query comes from to a primary and a secondary collection:
// Match is the kind, Values what it matches (none for the default rule).
type Rule struct {
	Pos
	Match     MatchKind
	Values    []string
	Primary   *Collection
	Secondary *Collection // nil: no backup
}

// Name is the rule as written: "default", "country DE AT".
func (r *Rule) Name() string {
	if len(r.Values) == 0 {
		return r.Match.String()
	}
	return r.Match.String() + " " + strings.Join(r.Values, " ")
}

// Instance is one managed name.
type Instance struct {
	Pos
	Name        string // fully qualified, lower case
	TTL         uint32
	Rules       []*Rule
	Policy      Policy
	IgnoreECS   bool          // decide by the query's source address even when it carries ECS
	TiePercent  int           // latency: pools within this share of the fastest also answer
	Tie         time.Duration // latency: ... or within this much of it
	TieKm       int           // nearest: pools within this distance of the nearest also answer
	Switch      Switch
	Failback    Failback
	AllDown     AllDown
	Fallbacks   []*Address // with AllDown == Fallback
	DegradedTTL uint32     // TTL while degraded; 0: min(TTL, DefaultDegradedTTL)
	Failover    Failover   // dual-stack: whether IPv4 and IPv6 fail over together
	HTTPS       *SVC       // answer HTTPS queries (RFC 9460); nil: not (the default)
	SVCB        *SVC       // answer SVCB queries alike; nil: not
	Props       Props      // where each property was given
}

// Failover is how a dual-stack instance (IPv4 and IPv6 pools) decides its
// families' answers.
type Failover uint8

const (
	// FailoverTogether: one decision for both families. A collection is
	// available only when each family it holds has an available pool, so
	// a site whose IPv4 (or IPv6) fails is left by both, and no
	// single-stack client is stranded.
	FailoverTogether Failover = iota
	// FailoverSeparate: each family is decided on its own, over the
	// collections' pools of that family.
	FailoverSeparate
)

var failoverNames = []string{"together", "separate"}

func (f Failover) String() string { return failoverNames[f] }

// ParseFailover reads a failover keyword.
func ParseFailover(s string) (Failover, bool) { return parseName[Failover](failoverNames, s) }

// SVC is what an instance's HTTPS or SVCB record carries besides the
// address hints (RFC 9460): the configured parameters, as written.
type SVC struct {
	ALPN []string // protocol ids, like h2 and h3; nil: none
	Port int      // 0: not given
	ECH  string   // an ECHConfigList in base64, as given; "": none
}

// Families is the set of address families an instance's pools serve.
func (in *Instance) Families(pools func(string) *Pool) (v4, v6 bool) {
	for _, r := range in.Rules {
		for _, c := range []*Collection{r.Primary, r.Secondary} {
			if c == nil {
				continue
			}
			for _, m := range c.Members {
				if p := pools(m.Pool); p != nil {
					v4 = v4 || p.Type == TypeA
					v6 = v6 || p.Type == TypeAAAA
				}
			}
		}
	}
	return v4, v6
}

// NewInstance returns an instance with every default filled in.
func NewInstance(pos Pos, name string) *Instance {
	in := newInstance(pos, name)
	return &in
}

func newInstance(pos Pos, name string) Instance {
	return Instance{Pos: pos, Name: name, TTL: DefaultTTL,
		TiePercent: DefaultTiePercent, Tie: DefaultTie}
}

// Failback is how an instance returns to its primary collection.
type Failback uint8

const (
	Preemptive Failback = iota // back to the primary as soon as it is available
	Manual                     // stay on the secondary until an operator switches back
)

var failbackNames = []string{"preemptive", "manual"}

func (f Failback) String() string { return failbackNames[f] }

// ParseFailback reads a failback keyword.
func ParseFailback(s string) (Failback, bool) { return parseName[Failback](failbackNames, s) }

// EffectiveDegradedTTL is the TTL answers carry while the instance is
// degraded, so resolvers come back sooner and see recovery sooner.
func (in *Instance) EffectiveDegradedTTL() uint32 {
	if in.DegradedTTL != 0 {
		return in.DegradedTTL
	}
	return min(in.TTL, DefaultDegradedTTL)
}

// SOA holds the names and timers of the zone's synthesized SOA record. A
// timer of 0 is its default (DefaultSOARefresh and the rest), so that a
// configuration that says nothing of them is the one it always was.
type SOA struct {
	MName string // primary name server; default the first ns, else ns1.<zone>
	RName string // mailbox of the person responsible; default hostmaster.<zone>

	Refresh, Retry, Expire uint32 // seconds; for secondaries (gtm serves no transfers, but they are published)
	Minimum                uint32 // seconds: the negative-caching TTL (RFC 2308), also the SOA record's own TTL
	Props                  Props  // where each timer was given
}

// Empty reports whether nothing of the SOA was configured.
func (s *SOA) Empty() bool {
	return s.MName == "" && s.RName == "" && s.Refresh == 0 && s.Retry == 0 && s.Expire == 0 && s.Minimum == 0 && len(s.Props) == 0
}

// Timers are the SOA's refresh, retry, expire and minimum, defaults filled in.
func (s *SOA) Timers() (refresh, retry, expire, minimum uint32) {
	return or(s.Refresh, DefaultSOARefresh), or(s.Retry, DefaultSOARetry), or(s.Expire, DefaultSOAExpire), or(s.Minimum, DefaultNegativeTTL)
}

// EffectiveNSTTL is the TTL of the apex NS set and of the name servers'
// address records (answers and glue).
func (c *Config) EffectiveNSTTL() uint32 { return or(c.NSTTL, DefaultNSTTL) }

func or(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// Config is one gtm plugin block.
type Config struct {
	Pos
	Zones     []string // fully qualified, lower case
	GeoIP     string   // path of a MaxMind City or Country database; "" for none
	GeoIPPos  Pos
	ASN       string // path of a MaxMind GeoLite2-ASN or GeoIP2-ISP database; "" for none
	ASNPos    Pos
	SOA       SOA
	NS        []NameServer // the apex NS set; default the SOA's MName
	NSTTL     uint32       // TTL of the NS set and the name servers' addresses; 0: DefaultNSTTL
	NSTTLPos  Pos
	Monitors  []*Monitor
	Pools     []*Pool
	Instances []*Instance

	// ExplainFrom lists the networks that may ask "_explain." debug
	// queries; empty means explain is off.
	ExplainFrom []netip.Prefix

	// API is the control API's settings, nil when it is off. It is not
	// part of what the configuration answers (nor of its digest).
	API *API

	// DNSSEC is the keys answers are signed with, nil when signing is off.
	// Like API it is left out of the digest: the SOA serial, and so the
	// unsigned answers, do not change when signing is turned on.
	DNSSEC *DNSSEC

	Warnings []string // filled by Validate: legal but probably unintended
}

// DefaultExplainFrom is where explain queries are taken from when explain
// is turned on without networks: this host only.
func DefaultExplainFrom() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Instance returns the instance named name (fully qualified), or nil.
func (c *Config) Instance(name string) *Instance {
	for _, in := range c.Instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// Pool returns the pool named name, or nil.
func (c *Config) Pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Defaults, in one place.
const (
	DefaultTTL         = 30
	DefaultDegradedTTL = 5
	MaxTTL             = 86400
	DefaultWeight      = 1
	MinWeight          = 1
	MaxWeight          = 100
	MaxAnswers         = 64
	MinBias            = -99   // a pool's distances count 199%
	MaxBias            = 99    // a pool's distances count 1%
	MaxTieKm           = 20038 // half the earth's circumference: every pool ties
	DefaultHashV4      = 24    // the hash method's client prefixes: a /24, the usual ECS source prefix
	DefaultHashV6      = 56    // and a /56, a typical IPv6 site

	// The zone's SOA timers and NS TTL, in seconds: what gtm always
	// published before they could be configured.
	DefaultSOARefresh  = 7200
	DefaultSOARetry    = 1800
	DefaultSOAExpire   = 1209600
	DefaultNegativeTTL = 60 // the SOA minimum and the SOA record's TTL
	DefaultNSTTL       = 60
	MinSOATimer        = 60      // refresh and retry: a minute at least
	MaxSOATimer        = 2419200 // refresh, retry, expire: four weeks at most
)

// DefaultThreshold is the availability rule when none is configured: at least
// one member available.
var DefaultThreshold = Threshold{Count: 1}

// PoolNames lists the pools an instance's collections use, each once, in
// order of first use.
func (in *Instance) PoolNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range in.Rules {
		for _, c := range []*Collection{r.Primary, r.Secondary} {
			if c == nil {
				continue
			}
			for _, m := range c.Members {
				if !seen[m.Pool] {
					seen[m.Pool] = true
					out = append(out, m.Pool)
				}
			}
		}
	}
	return out
}

// parseName finds s among an enum's names, indexed by value.
func parseName[T ~uint8](names []string, s string) (T, bool) {
	for i, n := range names {
		if n == s && s != "" {
			return T(i), true
		}
	}
	return 0, false
}
