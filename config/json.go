package config

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The JSON form of a configuration, for the control API. Field names are the
// Corefile's keywords; enums are their keywords ("weight", "secondary",
// "fail-open"), durations are written like "1m30s", thresholds like "2" or
// "50%", shares like "20%", addresses, prefixes and regexps as text. A field
// left out takes its default, as a property left out of a Corefile does, and
// is written out only when it holds something else or Props say it was
// given. Positions, Props, Used and Warnings are not part of it; an object
// read from JSON is placed at its path ("$.pools[0].addresses[1]") and its
// Props record the fields given, so that errors name them.

type jsonConfig struct {
	Zones     []string       `json:"zones"`
	GeoIP     string         `json:"geoip,omitempty"`
	ASN       string         `json:"asn,omitempty"`
	SOA       *jsonSOA       `json:"soa,omitempty"`
	NS        []jsonNS       `json:"ns,omitempty"`
	NSTTL     *uint32        `json:"ns-ttl,omitempty"`
	Explain   []netip.Prefix `json:"explain,omitempty"`
	Monitors  []MonitorJSON  `json:"monitors,omitempty"`
	Pools     []PoolJSON     `json:"pools,omitempty"`
	Instances []InstanceJSON `json:"instances,omitempty"`
}

type jsonSOA struct {
	MName   string  `json:"mname,omitempty"`
	RName   string  `json:"rname,omitempty"`
	Refresh *uint32 `json:"refresh,omitempty"`
	Retry   *uint32 `json:"retry,omitempty"`
	Expire  *uint32 `json:"expire,omitempty"`
	Minimum *uint32 `json:"minimum,omitempty"`
}

type jsonNS struct {
	Name      string       `json:"name"`
	Addresses []netip.Addr `json:"addresses,omitempty"`
}

// MonitorJSON has a field for each entry of MonitorOptions, named alike.
type MonitorJSON struct {
	Name            string         `json:"name" required:"false" doc:"unique among monitors; taken from the path when left out"`
	Protocol        Protocol       `json:"protocol,omitempty"`
	Interval        *Duration      `json:"interval,omitempty"`
	Timeout         *Duration      `json:"timeout,omitempty"`
	Rise            *int           `json:"rise,omitempty"`
	Fall            *int           `json:"fall,omitempty"`
	Port            *int           `json:"port,omitempty"`
	TLS             *bool          `json:"tls,omitempty"`
	Method          *string        `json:"method,omitempty"`
	Host            *string        `json:"host,omitempty"`
	Path            *string        `json:"path,omitempty"`
	Expect          []StatusRange  `json:"expect,omitempty"`
	Body            *string        `json:"body,omitempty"`
	BodyRegexp      *regexp.Regexp `json:"body-regexp,omitempty"`
	Header          [][2]string    `json:"header,omitempty"`
	FollowRedirects *int           `json:"follow-redirects,omitempty"`
	RedirectHosts   []string       `json:"redirect-hosts,omitempty"`
	TLSSkipVerify   *bool          `json:"tls-skip-verify,omitempty"`
	TLSServerName   *string        `json:"tls-server-name,omitempty"`
	Count           *int           `json:"count,omitempty"`
	MaxLoss         *Percent       `json:"max-loss,omitempty"`
}

type PoolJSON struct {
	Name         string        `json:"name" required:"false" doc:"unique among pools; taken from the path when left out"`
	Type         Type          `json:"type,omitempty"`
	Addresses    []AddressJSON `json:"addresses"`
	Method       Method        `json:"method,omitempty"`
	MaxAnswers   *int          `json:"max-answers,omitempty"`
	MinAvailable *Threshold    `json:"min-available,omitempty"`
	Monitor      string        `json:"monitor,omitempty"`
	Location     *LocationJSON `json:"location,omitempty" doc:"where the pool's site is, for the nearest policy"`
	Bias         *int          `json:"bias,omitempty" minimum:"-99" maximum:"99" doc:"nearest policy: distances to the pool count (100-bias)%; positive draws clients from farther away"`
	HashIPv4     *int          `json:"hash-ipv4,omitempty" doc:"method hash: the IPv4 client prefix length it keys on (1 to 32, default 24)"`
	HashIPv6     *int          `json:"hash-ipv6,omitempty" doc:"method hash: the IPv6 client prefix length it keys on (1 to 128, default 56)"`
}

// LocationJSON is "location LAT LON", in decimal degrees.
type LocationJSON struct {
	Lat float64 `json:"lat" minimum:"-90" maximum:"90"`
	Lon float64 `json:"lon" minimum:"-180" maximum:"180"`
}

type AddressJSON struct {
	Address string `json:"address"`
	Weight  *int   `json:"weight,omitempty"`
	Mode    Mode   `json:"mode,omitempty"`
	Monitor string `json:"monitor,omitempty"`
	Probe   string `json:"probe,omitempty"`
}

type InstanceJSON struct {
	Name        string     `json:"name" required:"false" doc:"the name answered, inside a zone; taken from the path when left out"`
	TTL         *uint32    `json:"ttl,omitempty"`
	Policy      Policy     `json:"policy,omitempty"`
	ECS         *OnOff     `json:"ecs,omitempty"`
	Tie         *TieJSON   `json:"tie,omitempty"`
	Switch      Switch     `json:"switch,omitempty"`
	Failback    Failback   `json:"failback,omitempty"`
	AllDown     AllDown    `json:"all-down,omitempty"`
	Fallback    []string   `json:"fallback,omitempty"`
	DegradedTTL *uint32    `json:"degraded-ttl,omitempty"`
	Failover    Failover   `json:"failover,omitempty" doc:"dual-stack: together (default) or separate"`
	HTTPS       *SVCJSON   `json:"https,omitempty" doc:"answer HTTPS queries (RFC 9460); {} for no parameters"`
	SVCB        *SVCJSON   `json:"svcb,omitempty" doc:"answer SVCB queries, as https"`
	Rules       []RuleJSON `json:"rules"`
}

// SVCJSON is "https|svcb { alpn ID...; port PORT; ech BASE64 }".
type SVCJSON struct {
	ALPN []string `json:"alpn,omitempty"`
	Port *int     `json:"port,omitempty" minimum:"1" maximum:"65535"`
	ECH  string   `json:"ech,omitempty" doc:"an ECHConfigList in base64"`
}

func svcJSON(v *SVC) *SVCJSON {
	if v == nil {
		return nil
	}
	return &SVCJSON{ALPN: v.ALPN, Port: ptr(v.Port, 0, false), ECH: v.ECH}
}

func svcFrom(j *SVCJSON, path string) (*SVC, error) {
	if j == nil {
		return nil, nil
	}
	v := &SVC{ALPN: nonEmpty(j.ALPN), ECH: j.ECH}
	if j.Port != nil {
		if *j.Port < 1 || *j.Port > 65535 {
			return nil, at(path+".port").Errorf("port %d is not a port from 1 to 65535", *j.Port)
		}
		v.Port = *j.Port
	}
	return v, nil
}

// TieJSON is "tie [PERCENT%] [DURATION|DISTANCEkm]": given, what it leaves
// out is 0.
type TieJSON struct {
	Percent  Percent  `json:"percent,omitempty"`
	Duration Duration `json:"duration,omitempty" doc:"latency policy"`
	Km       int      `json:"km,omitempty" doc:"nearest policy: pools within this many km of the nearest also answer"`
}

type RuleJSON struct {
	Match     MatchKind       `json:"match"`
	Values    []string        `json:"values,omitempty"`
	Primary   *CollectionJSON `json:"primary,omitempty"`
	Secondary *CollectionJSON `json:"secondary,omitempty"`
}

type CollectionJSON struct {
	Pools        []MemberJSON `json:"pools"`
	Method       Method       `json:"method,omitempty"`
	MinAvailable *Threshold   `json:"min-available,omitempty"`
}

type MemberJSON struct {
	Pool   string `json:"pool"`
	Weight *int   `json:"weight,omitempty"`
}

// MarshalJSON writes the configuration's JSON form, for a Config and a
// *Config alike.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(toJSON(&c)) }

// UnmarshalJSON reads a configuration's JSON form, fills in the defaults and
// validates it: unknown fields, values of the wrong type and every rule
// Validate checks are errors that name the place.
func (c *Config) UnmarshalJSON(data []byte) error {
	cfg, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*c = *cfg
	return nil
}

// ParseJSON reads and validates a configuration's JSON form.
func ParseJSON(data []byte) (*Config, error) {
	var jc jsonConfig
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&jc); err != nil {
		return nil, explainJSON(data, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("json: unexpected data after the configuration")
	}
	c, err := fromJSON(&jc)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ptr is v to write out: nil, for a field left out, when v is the default
// and was not given.
func ptr[T comparable](v, def T, given bool) *T {
	if v == def && !given {
		return nil
	}
	return &v
}

func toJSON(c *Config) *jsonConfig {
	jc := &jsonConfig{Zones: c.Zones, GeoIP: c.GeoIP, ASN: c.ASN, Explain: c.ExplainFrom}
	if !c.SOA.Empty() {
		s := &c.SOA
		jc.SOA = &jsonSOA{MName: s.MName, RName: s.RName, Refresh: ptr(s.Refresh, 0, s.Props.Has("refresh")),
			Retry: ptr(s.Retry, 0, s.Props.Has("retry")), Expire: ptr(s.Expire, 0, s.Props.Has("expire")),
			Minimum: ptr(s.Minimum, 0, s.Props.Has("minimum"))}
	}
	jc.NSTTL = ptr(c.NSTTL, 0, c.NSTTLPos != (Pos{}))
	for _, ns := range c.NS {
		jc.NS = append(jc.NS, jsonNS{Name: ns.Name, Addresses: ns.Addrs})
	}
	for _, m := range c.Monitors {
		jc.Monitors = append(jc.Monitors, MonitorDoc(m))
	}
	for _, p := range c.Pools {
		jc.Pools = append(jc.Pools, PoolDoc(p))
	}
	for _, in := range c.Instances {
		jc.Instances = append(jc.Instances, InstanceDoc(in))
	}
	return jc
}

// MonitorDoc is a monitor's JSON form.
func MonitorDoc(m *Monitor) MonitorJSON {
	return MonitorJSON{
		Name: m.Name, Protocol: m.Protocol,
		Interval: ptr(Duration(m.Interval), Duration(DefaultInterval), m.Props.Has("interval")),
		Timeout:  ptr(Duration(m.Timeout), Duration(DefaultTimeout), m.Props.Has("timeout")),
		Rise:     ptr(m.Rise, DefaultRise, m.Props.Has("rise")), Fall: ptr(m.Fall, DefaultFall, m.Props.Has("fall")),
		Port: ptr(m.Port, 0, m.Props.Has("port")), TLS: ptr(m.TLS, false, m.Props.Has("tls")),
		Method: ptr(m.Method, DefaultMethod, m.Props.Has("method")), Host: ptr(m.Host, "", m.Props.Has("host")), Path: ptr(m.Path, DefaultPath, m.Props.Has("path")),
		Expect: m.Expect, Body: ptr(m.BodyMatch, "", m.Props.Has("body")), BodyRegexp: m.BodyRegexp, Header: m.Headers,
		FollowRedirects: ptr(m.MaxRedirects, 0, m.Props.Has("follow-redirects")), RedirectHosts: m.RedirectHosts,
		TLSSkipVerify: ptr(m.SkipVerify, false, m.Props.Has("tls-skip-verify")), TLSServerName: ptr(m.ServerName, "", m.Props.Has("tls-server-name")),
		Count: ptr(m.Count, DefaultCount, m.Props.Has("count")), MaxLoss: ptr(Percent(m.MaxLoss), 0, m.Props.Has("max-loss")),
	}
}

// PoolDoc is a pool's JSON form.
func PoolDoc(p *Pool) PoolJSON {
	jp := PoolJSON{Name: p.Name, Type: p.Type, Method: p.Method, Monitor: p.Monitor,
		MaxAnswers: ptr(p.MaxAnswers, 0, p.Props.Has("max-answers")), MinAvailable: ptr(p.MinAvailable, DefaultThreshold, p.Props.Has("min-available")),
		Bias: ptr(p.Bias, 0, p.Props.Has("bias")), HashIPv4: ptr(p.HashV4, 0, p.Props.Has("hash-ipv4")),
		HashIPv6: ptr(p.HashV6, 0, p.Props.Has("hash-ipv6"))}
	if p.Location != nil {
		jp.Location = &LocationJSON{Lat: p.Location.Lat, Lon: p.Location.Lon}
	}
	for _, a := range p.Addresses {
		jp.Addresses = append(jp.Addresses, AddressJSON{Address: a.Value(), Weight: ptr(a.Weight, DefaultWeight, false),
			Mode: a.Mode, Monitor: a.Monitor, Probe: a.Probe})
	}
	return jp
}

// InstanceDoc is an instance's JSON form.
func InstanceDoc(in *Instance) InstanceJSON {
	ji := InstanceJSON{Name: in.Name, TTL: &in.TTL, Policy: in.Policy, Switch: in.Switch,
		Failback: in.Failback, AllDown: in.AllDown, DegradedTTL: ptr(in.DegradedTTL, 0, in.Props.Has("degraded-ttl")),
		Failover: in.Failover, HTTPS: svcJSON(in.HTTPS), SVCB: svcJSON(in.SVCB)}
	if in.IgnoreECS {
		ji.ECS = new(OnOff)
	}
	if in.Props.Has("tie") || in.TiePercent != DefaultTiePercent || in.Tie != DefaultTie || in.TieKm != 0 {
		ji.Tie = &TieJSON{Percent: Percent(in.TiePercent), Duration: Duration(in.Tie), Km: in.TieKm}
	}
	for _, a := range in.Fallbacks {
		ji.Fallback = append(ji.Fallback, a.Value())
	}
	for _, r := range in.Rules {
		ji.Rules = append(ji.Rules, RuleJSON{Match: r.Match, Values: r.Values,
			Primary: collectionJSON(r.Primary), Secondary: collectionJSON(r.Secondary)})
	}
	return ji
}

func collectionJSON(col *Collection) *CollectionJSON {
	if col == nil {
		return nil
	}
	jc := &CollectionJSON{Pools: []MemberJSON{}, Method: col.Method, MinAvailable: ptr(col.MinAvailable, DefaultThreshold, col.Props.Has("min-available"))}
	for _, m := range col.Members {
		jc.Pools = append(jc.Pools, MemberJSON{Pool: m.Pool, Weight: ptr(m.Weight, DefaultWeight, false)})
	}
	return jc
}

// at is the position of the JSON object at path.
func at(path string) Pos { return Pos{File: path} }

// given records in props the fields of an object at path that were given,
// in the order of their names, so that Props come out the same each time.
// They are kept in arena.
func given(arena *Arena, props *Props, path string, fields map[string]bool) {
	var p Props
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		if fields[f] {
			p.Set(f, at(path+"."+f))
		}
	}
	*props = arena.Props(p)
}

func fromJSON(jc *jsonConfig) (*Config, error) {
	c := &Config{Pos: at("$"), GeoIP: jc.GeoIP}
	var arena Arena // for pools' and instances' parts
	for _, z := range jc.Zones {
		c.Zones = append(c.Zones, Fqdn(z))
	}
	if jc.GeoIP != "" {
		c.GeoIPPos = at("$.geoip")
	}
	if c.ASN = jc.ASN; jc.ASN != "" {
		c.ASNPos = at("$.asn")
	}
	if jc.SOA != nil {
		s := jc.SOA
		c.SOA = SOA{MName: fqdnOrEmpty(s.MName), RName: fqdnOrEmpty(s.RName)}
		set(&c.SOA.Refresh, s.Refresh)
		set(&c.SOA.Retry, s.Retry)
		set(&c.SOA.Expire, s.Expire)
		set(&c.SOA.Minimum, s.Minimum)
		var arena Arena
		given(&arena, &c.SOA.Props, "$.soa", map[string]bool{"refresh": s.Refresh != nil, "retry": s.Retry != nil,
			"expire": s.Expire != nil, "minimum": s.Minimum != nil})
	}
	if jc.NSTTL != nil {
		c.NSTTL, c.NSTTLPos = *jc.NSTTL, at("$.ns-ttl")
	}
	for i, ns := range jc.NS {
		c.NS = append(c.NS, NameServer{Pos: at(fmt.Sprintf("$.ns[%d]", i)), Name: Fqdn(ns.Name), Addrs: nonEmpty(ns.Addresses)})
	}
	for _, p := range jc.Explain {
		c.ExplainFrom = append(c.ExplainFrom, p.Masked())
	}
	for i := range jc.Monitors {
		c.Monitors = append(c.Monitors, MonitorFrom(&jc.Monitors[i], fmt.Sprintf("$.monitors[%d]", i)))
	}
	for i := range jc.Pools {
		p, err := poolFrom(&arena, &jc.Pools[i], fmt.Sprintf("$.pools[%d]", i))
		if err != nil {
			return nil, err
		}
		c.Pools = append(c.Pools, p)
	}
	for i := range jc.Instances {
		in, err := instanceFrom(&arena, &jc.Instances[i], fmt.Sprintf("$.instances[%d]", i))
		if err != nil {
			return nil, err
		}
		c.Instances = append(c.Instances, in)
	}
	return c, nil
}

// MonitorFrom converts a monitor's JSON form, placed at path, with its
// defaults; it is not validated.
func MonitorFrom(jm *MonitorJSON, path string) *Monitor {
	m := NewMonitor(at(path), jm.Name)
	m.Protocol = jm.Protocol
	setDuration(&m.Interval, jm.Interval)
	setDuration(&m.Timeout, jm.Timeout)
	set(&m.Rise, jm.Rise)
	set(&m.Fall, jm.Fall)
	set(&m.Port, jm.Port)
	set(&m.TLS, jm.TLS)
	set(&m.Method, jm.Method)
	set(&m.Host, jm.Host)
	set(&m.Path, jm.Path)
	m.Expect = nonEmpty(jm.Expect)
	set(&m.BodyMatch, jm.Body)
	m.BodyRegexp = jm.BodyRegexp
	m.Headers = nonEmpty(jm.Header)
	set(&m.MaxRedirects, jm.FollowRedirects)
	m.RedirectHosts = nonEmpty(jm.RedirectHosts)
	set(&m.SkipVerify, jm.TLSSkipVerify)
	set(&m.ServerName, jm.TLSServerName)
	set(&m.Count, jm.Count)
	if jm.MaxLoss != nil {
		m.MaxLoss = int(*jm.MaxLoss)
	}
	// Each option field is named after its entry in MonitorOptions.
	v := reflect.ValueOf(jm).Elem()
	for i, f := range monitorJSONFields {
		if f != "name" && !v.Field(i).IsZero() {
			m.Props.Set(f, at(path+"."+f))
		}
	}
	return m
}

// poolFrom converts a pool's JSON form, placed at path; it is not validated.
func poolFrom(arena *Arena, jp *PoolJSON, path string) (*Pool, error) {
	p := arena.Pool(at(path), jp.Name)
	p.Type, p.Method, p.Monitor = jp.Type, jp.Method, jp.Monitor
	set(&p.MaxAnswers, jp.MaxAnswers)
	set(&p.MinAvailable, jp.MinAvailable)
	set(&p.Bias, jp.Bias)
	set(&p.HashV4, jp.HashIPv4)
	set(&p.HashV6, jp.HashIPv6)
	if jp.Location != nil {
		p.Location = &Location{Lat: jp.Location.Lat, Lon: jp.Location.Lon}
	}
	given(arena, &p.Props, path, map[string]bool{"max-answers": jp.MaxAnswers != nil, "min-available": jp.MinAvailable != nil,
		"location": jp.Location != nil, "bias": jp.Bias != nil, "hash-ipv4": jp.HashIPv4 != nil, "hash-ipv6": jp.HashIPv6 != nil})
	vals := make([]Address, len(jp.Addresses))
	for j, ja := range jp.Addresses {
		apath := fmt.Sprintf("%s.addresses[%d]", path, j)
		a, err := ParseAddressValue(at(apath), ja.Address)
		if err != nil {
			return nil, at(apath).Errorf("%v", err)
		}
		set(&a.Weight, ja.Weight)
		a.Mode, a.Monitor, a.Probe = ja.Mode, ja.Monitor, ja.Probe
		vals[j] = a
	}
	p.Addresses = arena.Addresses(vals)
	return p, nil
}

// instanceFrom converts an instance's JSON form, placed at path; it is not
// validated.
func instanceFrom(arena *Arena, ji *InstanceJSON, path string) (*Instance, error) {
	in := arena.Instance(at(path), Fqdn(ji.Name))
	set(&in.TTL, ji.TTL)
	set(&in.DegradedTTL, ji.DegradedTTL)
	in.Policy, in.Switch, in.Failback, in.AllDown, in.Failover = ji.Policy, ji.Switch, ji.Failback, ji.AllDown, ji.Failover
	var err error
	if in.HTTPS, err = svcFrom(ji.HTTPS, path+".https"); err != nil {
		return nil, err
	}
	if in.SVCB, err = svcFrom(ji.SVCB, path+".svcb"); err != nil {
		return nil, err
	}
	if ji.ECS != nil {
		in.IgnoreECS = !bool(*ji.ECS)
	}
	if ji.Tie != nil {
		in.TiePercent, in.Tie, in.TieKm = int(ji.Tie.Percent), time.Duration(ji.Tie.Duration), ji.Tie.Km
	}
	given(arena, &in.Props, path, map[string]bool{
		"ttl": ji.TTL != nil, "degraded-ttl": ji.DegradedTTL != nil, "ecs": ji.ECS != nil, "tie": ji.Tie != nil,
		"policy": has(ji.Policy), "switch": has(ji.Switch), "failback": has(ji.Failback), "all-down": has(ji.AllDown),
		"failover": has(ji.Failover), "https": ji.HTTPS != nil, "svcb": ji.SVCB != nil,
	})
	vals := make([]Address, len(ji.Fallback))
	for j, s := range ji.Fallback {
		fpath := fmt.Sprintf("%s.fallback[%d]", path, j)
		a, err := ParseAddressValue(at(fpath), s)
		if err != nil {
			return nil, at(fpath).Errorf("%v", err)
		}
		vals[j] = a
	}
	in.Fallbacks = arena.Addresses(vals)
	rules := make([]*Rule, 0, len(ji.Rules))
	for j, jr := range ji.Rules {
		rpath := fmt.Sprintf("%s.rules[%d]", path, j)
		r := arena.Rule()
		*r = Rule{Pos: at(rpath), Match: jr.Match, Values: nonEmpty(jr.Values),
			Primary:   collectionFromJSON(arena, jr.Primary, rpath+".primary"),
			Secondary: collectionFromJSON(arena, jr.Secondary, rpath+".secondary")}
		rules = append(rules, r)
	}
	in.Rules = arena.Rules(rules)
	return in, nil
}

// monitorJSONFields are the JSON names of MonitorJSON's fields, in order.
var monitorJSONFields = func() []string {
	var out []string
	for f := range reflect.TypeFor[MonitorJSON]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}()

func collectionFromJSON(arena *Arena, jc *CollectionJSON, path string) *Collection {
	if jc == nil {
		return nil
	}
	col := arena.Collection(at(path))
	col.Method = jc.Method
	set(&col.MinAvailable, jc.MinAvailable)
	given(arena, &col.Props, path, map[string]bool{"min-available": jc.MinAvailable != nil})
	var members []Member
	for i, jm := range jc.Pools {
		m := NewMember(at(fmt.Sprintf("%s.pools[%d]", path, i)), jm.Pool)
		set(&m.Weight, jm.Weight)
		members = append(members, m)
	}
	col.Members = arena.Members(members)
	return col
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func setDuration(dst *time.Duration, v *Duration) {
	if v != nil {
		*dst = time.Duration(*v)
	}
}

func has[T ~uint8](v T) bool { return v != 0 }

// nonEmpty is s, or nil when it is empty, as the parser leaves a list that
// was not given.
func nonEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func fqdnOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return Fqdn(s)
}

// explainJSON turns a decoding error into one that names the path of the
// value at fault ("$.pools[0].addresses[1].weight"), which encoding/json
// does not say for unknown fields and values that do not read as their type.
func explainJSON(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("json: %v (at byte %d)", err, syn.Offset)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if d.Decode(&v) == nil {
		if perr := locate(v, reflect.TypeFor[jsonConfig](), "$"); perr != nil {
			return perr
		}
	}
	return err
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// locate finds the first value in v, decoded without types, that t cannot
// hold, and says where and why.
func locate(v any, t reflect.Type, path string) error {
	if v == nil {
		return nil // null leaves the default
	}
	bad := func(want string) error {
		return fmt.Errorf("json: %s: %s is not %s", path, jsonKind(v), want)
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("json: %s: %v", path, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return locate(v, t.Elem(), path)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("json: %s: unknown field %q", path, k)
			}
			if err := locate(obj[k], ft, path+"."+k); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return bad("a list")
		}
		if t.Kind() == reflect.Array && len(list) != t.Len() {
			return fmt.Errorf("json: %s: a list of %d is not a list of %d", path, len(list), t.Len())
		}
		for i, e := range list {
			if err := locate(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); !ok || err != nil {
			return bad("a whole number")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); !ok || err != nil {
			return bad(fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<t.Bits()-1))
		}
	}
	return nil
}

// jsonKind describes a value decoded without types.
func jsonKind(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "null"
}
