package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"reflect"
	"sort"
	"sync"
)

// Fingerprints identify configuration by content, so that two nodes (or two
// server blocks, or a reload) with the same settings agree on identity
// whatever the lines they were written on. Positions, warnings and other
// bookkeeping fields are left out.

// Fingerprint identifies the whole configuration.
func (c *Config) Fingerprint() string { return c.Sum().String() }

// Sum is an order-independent digest of a configuration: the sum of the
// digests of its parts (the top-level settings, each monitor, pool and
// instance). Configurations with the same content have the same Sum,
// whatever the order of their objects and however they came to be (a
// Corefile, or a series of changes through an API), and a change to a few
// objects updates it in time that follows the change, not the whole.
type Sum [2]uint64

// Add returns s with the part digest d added.
func (s Sum) Add(d Digest) Sum {
	a, b := binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:])
	return Sum{s[0] + a, s[1] + b}
}

// Sub returns s with the part digest d taken away.
func (s Sum) Sub(d Digest) Sum {
	a, b := binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:])
	return Sum{s[0] - a, s[1] - b}
}

func (s Sum) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s[0])
	binary.BigEndian.PutUint64(b[8:], s[1])
	return hex.EncodeToString(b[:])
}

// Digest identifies one part of a configuration by content.
type Digest [16]byte

// PartDigest is the digest of one pool, instance or monitor. The kind is
// part of it, so a pool and an instance never stand for each other.
func PartDigest(v any) Digest {
	if d, ok := fastDigest(v); ok {
		return d
	}
	var d Digest
	copy(d[:], digest(v, nil))
	return d
}

// TopDigest is the digest of the settings outside monitors, pools and
// instances: zones, SOA, name servers, GeoIP, explain.
func (c *Config) TopDigest() Digest {
	var d Digest
	copy(d[:], digest(c, map[string]bool{"Monitors": true, "Pools": true, "Instances": true}))
	return d
}

// Sum computes the configuration's Sum from all its parts.
func (c *Config) Sum() Sum {
	s := Sum{}.Add(c.TopDigest())
	for _, m := range c.Monitors {
		s = s.Add(PartDigest(m))
	}
	for _, p := range c.Pools {
		s = s.Add(PartDigest(p))
	}
	for _, in := range c.Instances {
		s = s.Add(PartDigest(in))
	}
	return s
}

// probeOnly leaves out what says when and how often to probe, and how many
// results in a row change a verdict: a verdict stays true when only those
// change.
var probeOnly = map[string]bool{"Name": true, "Interval": true, "Rise": true, "Fall": true}

// ProbeID identifies what a monitor's probe asks and expects (protocol, port,
// request, expectations, timeout), whatever its name, interval, rise or fall.
func (m *Monitor) ProbeID() string { return fingerprint(m, probeOnly) }

// ScheduleID identifies the probe and its schedule and hysteresis, whatever
// the monitor's name: two monitors with the same ScheduleID probe alike.
func (m *Monitor) ScheduleID() string { return fingerprint(m, map[string]bool{"Name": true}) }

var ownPkg = reflect.TypeFor[Config]().PkgPath()

var (
	posType   = reflect.TypeFor[Pos]()
	propsType = reflect.TypeFor[Props]()
)

type field struct {
	index int
	name  string
}

// fields caches, per struct type, the fields that say what a configuration
// does: reflect.Type.Field copies a whole description per call, which
// costs more than the walk at 100,000 instances.
var fields sync.Map // reflect.Type -> []field

func fieldsOf(t reflect.Type) []field {
	if fs, ok := fields.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if skipped[f.Name] || !f.IsExported() || f.Type == posType || f.Type == propsType {
			continue
		}
		fs = append(fs, field{i, f.Name})
	}
	fields.Store(t, fs)
	return fs
}

// skipped are bookkeeping fields that never say what the configuration does.
var skipped = map[string]bool{"Used": true, "Warnings": true, "API": true, "DNSSEC": true}

func fingerprint(v any, skip map[string]bool) string { return hex.EncodeToString(digest(v, skip)) }

func digest(v any, skip map[string]bool) []byte {
	if skip == nil {
		if d, ok := fastDigest(v); ok {
			return d[:]
		}
	}
	return reflectDigest(v, skip)
}

// reflectDigest walks any part by reflection; fastDigest gives the same
// bytes for the parts there are 100,000 of.
func reflectDigest(v any, skip map[string]bool) []byte {
	// The walk appends to a buffer and hashes it once: writing each field
	// to the hash costs more than the walk at 100,000 instances.
	w := &walker{h: sha256.New(), buf: make([]byte, 0, 256)}
	w.str(reflect.TypeOf(v).String()) // the kind of part
	w.value(reflect.ValueOf(v), skip)
	w.h.Write(w.buf)
	return w.h.Sum(nil)[:16]
}

// walkChunk is how much the walk buffers before it hashes.
const walkChunk = 32 << 10

type walker struct {
	h   hash.Hash
	buf []byte
}

func (w *walker) value(v reflect.Value, skip map[string]bool) {
	// Types from other packages with unexported state (netip.Addr,
	// netip.Prefix, *regexp.Regexp) say what they are through String.
	if v.IsValid() && v.CanInterface() && v.Type().PkgPath() != ownPkg && !(v.Kind() == reflect.Pointer && (v.IsNil() || v.Type().Elem().PkgPath() == ownPkg)) {
		if s, ok := v.Interface().(fmt.Stringer); ok {
			w.str(s.String())
			return
		}
	}
	switch v.Kind() {
	case reflect.Invalid:
		w.str("<nil>")
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			w.str("<nil>")
			return
		}
		w.value(v.Elem(), skip)
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			if skip[f.name] {
				continue
			}
			w.str(f.name)
			w.value(v.Field(f.index), skip)
		}
	case reflect.Slice, reflect.Array:
		w.int(int64(v.Len()))
		for i := range v.Len() {
			w.value(v.Index(i), skip)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		w.int(int64(len(keys)))
		for _, k := range keys {
			w.value(k, skip)
			w.value(v.MapIndex(k), skip)
		}
	case reflect.String:
		w.str(v.String())
	case reflect.Bool:
		if v.Bool() {
			w.int(1)
		} else {
			w.int(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.int(int64(v.Uint()))
	default:
		w.str(fmt.Sprint(v))
	}
}

func (w *walker) str(s string) {
	w.int(int64(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *walker) int(n int64) {
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(n))
	if len(w.buf) >= walkChunk {
		w.h.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// Fingerprint identifies a rule: what it matches and its collections.
func (r *Rule) Fingerprint() string { return fingerprint(r, nil) }
