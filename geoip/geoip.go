// Package geoip places client addresses with a MaxMind GeoIP2 or GeoLite2
// City or Country database, without allocating per lookup.
package geoip

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is where the database places an address, as ISO codes.
type Location struct {
	Continent   string // "EU"
	Country     string // "DE"
	Subdivision string // "DE-BY": country and subdivision code, as rules write it
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
}

type entry struct {
	offset uintptr
	loc    Location
}

// cacheSize bounds the decoded-record cache: a Country database has a few
// hundred records, a City database many more; a miss costs one decode.
const cacheSize = 1 << 16

// Open loads path and checks that it is a City or Country database.
func Open(path string) (*DB, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
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
	// Catch a truncated or corrupt file now rather than on a query.
	if err := tree.Verify(); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	return &DB{path: path, kind: kind, loaded: time.Now(), modTime: st.ModTime(), size: st.Size(),
		records: records, tree: tree, cache: make([]atomic.Pointer[entry], cacheSize)}, nil
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
	cp := *d
	cp.modTime, cp.size = st.ModTime(), st.Size()
	return &cp
}
