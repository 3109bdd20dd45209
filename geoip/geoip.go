// Package geoip places client addresses with a MaxMind GeoIP2 or GeoLite2
// City or Country database, without allocating per lookup.
package geoip

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gtm-project/gtm/policy"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is where the database places an address, as ISO codes and, from
// a City database, coordinates.
type Location struct {
	Continent   string // "EU"
	Country     string // "DE"
	Subdivision string // "DE-BY": country and subdivision code, as rules write it

	// Place is the record's coordinates (not Valid when it has none),
	// with the unit vector distances are measured from: made once when the
	// record is decoded, not for every query.
	Place  policy.Point
	Radius uint16 // accuracy radius in km around Place (0: not given)
}

// DB is one loaded GeoIP2/GeoLite2 City or Country database. The file is
// read into memory once, so replacing it on disk never changes a database in
// use; a reload builds a new DB.
type DB struct {
	path    string
	kind    string // database type from the metadata, e.g. "GeoLite2-City"
	loaded  time.Time
	modTime time.Time // of the file last tried (loaded, or refused)
	size    int64
	records *geoip2.Reader    // decodes a record the first time it is seen
	tree    *maxminddb.Reader // finds records: no allocation per lookup
	cache   []atomic.Pointer[entry]

	v *verification
}

type entry struct {
	offset uintptr
	loc    Location
}

// cacheSize bounds the decoded-record cache: a Country database has a few
// hundred records, a City database many more; a miss costs one decode.
const cacheSize = 1 << 16

// verifyInline is the largest file Open verifies whole before it returns:
// the test databases and a GeoLite2 Country file (under 10 MB, a fraction
// of a second). A City database (60 MB and more, several seconds) is
// checked in part at once and verified whole in the background, so that a
// server answers within a second of starting.
var verifyInline int64 = 16 << 20

// loaded is the process's databases by file, so that a reload whose file
// did not change reuses the one in memory instead of reading and checking
// it again.
var loaded = struct {
	sync.Mutex
	m map[string]*DB
}{m: map[string]*DB{}}

// Open loads path and checks that it is a City or Country database whose
// file is whole: a file cut short is refused, and so is a corrupt one,
// found by a full verification for files up to verifyInline and by
// decoding records across the file above it (the full verification then
// runs in the background: Verified). A file unchanged since the process
// last opened it (path, size and modification time) is not read again.
func Open(path string) (*DB, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	loaded.Lock()
	if d := loaded.m[path]; d != nil && d.modTime.Equal(st.ModTime()) && d.size == st.Size() && !d.failed() {
		loaded.Unlock()
		return d, nil
	}
	loaded.Unlock()
	d, err := open(path, st, st.Size() <= verifyInline)
	if err != nil {
		return nil, err
	}
	if st.Size() > verifyInline {
		go func() { d.v.finish(d.tree.Verify()) }()
	} else {
		d.v.finish(nil)
	}
	remember(path, d)
	return d, nil
}

// remember keeps d as the database of path, and no other path's: a
// configuration that moved to another file does not keep the old one (60
// MB and more) in memory for the life of the process.
func remember(path string, d *DB) {
	loaded.Lock()
	clear(loaded.m)
	loaded.m[path] = d
	loaded.Unlock()
}

// failed reports whether the whole-file verification has finished and
// found damage, without waiting for it.
func (d *DB) failed() bool {
	select {
	case <-d.v.done:
		return d.v.err != nil
	default:
		return false
	}
}

// verification is the result of a whole-file verification, shared by the
// copies Refused makes: err is set before done is closed.
type verification struct {
	done chan struct{}
	err  error
}

func (v *verification) finish(err error) {
	v.err = err
	close(v.done)
}

// OpenVerified is Open with the whole file verified before it returns,
// for a replaced file read off the query path before it is swapped in.
func OpenVerified(path string) (*DB, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	d, err := open(path, st, true)
	if err != nil {
		return nil, err
	}
	d.v.finish(nil)
	remember(path, d)
	return d, nil
}

func open(path string, st os.FileInfo, verify bool) (*DB, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	records, err := geoip2.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not a MaxMind database: %w", path, err)
	}
	kind := records.Metadata().DatabaseType
	if !strings.Contains(kind, "City") && !strings.Contains(kind, "Country") {
		return nil, fmt.Errorf("%s is a %s database; gtm needs a City or Country one", path, kind)
	}
	tree, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := &DB{path: path, kind: kind, loaded: time.Now(), modTime: st.ModTime(), size: st.Size(),
		records: records, tree: tree, cache: make([]atomic.Pointer[entry], cacheSize), v: &verification{done: make(chan struct{})}}
	// Catch a truncated or corrupt file now rather than on a query.
	if verify {
		if err := tree.Verify(); err != nil {
			return nil, fmt.Errorf("%s is corrupt: %w", path, err)
		}
	} else if err := d.sample(); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	return d, nil
}

// sample looks up addresses spread over both families and decodes what
// they find: a cut or damaged file fails here, in milliseconds, the way
// it would fail queries.
func (d *DB) sample() error {
	for i := range 256 {
		a4 := netip.AddrFrom4([4]byte{byte(i), byte(i * 7), byte(i * 13), 1})
		var b16 [16]byte
		b16[0], b16[1], b16[2], b16[3] = 0x20, byte(i), byte(i*7), byte(i*11)
		for _, a := range []netip.Addr{a4, netip.AddrFrom16(b16)} {
			res := d.tree.Lookup(a)
			if err := res.Err(); err != nil {
				return err
			}
			if !res.Found() {
				continue
			}
			var rec map[string]any
			if err := res.Decode(&rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verified reports the whole-file verification of a database opened
// without it: it blocks until the verification is done and returns its
// error, the same every time.
func (d *DB) Verified() error {
	<-d.v.done
	return d.v.err
}

// Lookup places a. bits is the length of the database network around a in
// which the answer holds (also when a is not in the database).
func (d *DB) Lookup(a netip.Addr) (loc Location, bits int, found bool) {
	res := d.tree.Lookup(a)
	bits = res.Prefix().Bits()
	if bits < 0 {
		bits = 0
	}
	if res.Err() != nil || !res.Found() {
		return Location{}, bits, false
	}
	off := res.Offset()
	slot := &d.cache[off%cacheSize]
	if e := slot.Load(); e != nil && e.offset == off {
		return e.loc, bits, true
	}
	loc, ok := d.decode(a)
	if !ok {
		return Location{}, bits, false
	}
	slot.Store(&entry{offset: off, loc: loc})
	return loc, bits, true
}

func (d *DB) decode(a netip.Addr) (Location, bool) {
	if strings.Contains(d.kind, "City") {
		c, err := d.records.City(a)
		if err != nil {
			return Location{}, false
		}
		loc := Location{Continent: c.Continent.Code, Country: c.Country.ISOCode}
		if len(c.Subdivisions) > 0 && c.Subdivisions[0].ISOCode != "" && loc.Country != "" {
			loc.Subdivision = loc.Country + "-" + c.Subdivisions[0].ISOCode
		}
		if l := c.Location; l.Latitude != nil && l.Longitude != nil {
			loc.Place, loc.Radius = policy.PointAt(*l.Latitude, *l.Longitude), l.AccuracyRadius
		}
		return loc, true
	}
	c, err := d.records.Country(a)
	if err != nil {
		return Location{}, false
	}
	return Location{Continent: c.Continent.Code, Country: c.Country.ISOCode}, true
}

// Changed reports whether the file on disk differs from what was loaded.
func (d *DB) Changed() bool {
	st, err := os.Stat(d.path)
	return err == nil && (!st.ModTime().Equal(d.modTime) || st.Size() != d.size)
}

// Path is the file the database was read from.
func (d *DB) Path() string { return d.path }

// Kind is the database type its metadata gives, e.g. "GeoLite2-City".
func (d *DB) Kind() string { return d.kind }

// City reports whether the database places subdivisions.
func (d *DB) City() bool { return strings.Contains(d.kind, "City") }

// Loaded is when the database was read.
func (d *DB) Loaded() time.Time { return d.loaded }

// Built is when MaxMind built the database.
func (d *DB) Built() time.Time { return d.records.Metadata().BuildTime() }

// Refused returns a copy of d that remembers the file's state as stat
// found it: a file that failed to load is then not tried again until it
// changes once more.
func (d *DB) Refused(st os.FileInfo) *DB {
	// The old database's verification (it may still run) is shared.
	return &DB{path: d.path, kind: d.kind, loaded: d.loaded, modTime: st.ModTime(), size: st.Size(),
		records: d.records, tree: d.tree, cache: d.cache, v: d.v}
}
