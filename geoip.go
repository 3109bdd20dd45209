package gtm

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

// geoLoc is where GeoIP places an address, as ISO codes.
type geoLoc struct {
	continent   string // "EU"
	country     string // "DE"
	subdivision string // "DE-BY": country and subdivision code, as rules write it
}

// geoDB is one loaded GeoIP2/GeoLite2 City or Country database. The file is
// read into memory once, so replacing it on disk never changes a database in
// use; a reload builds a new geoDB.
type geoDB struct {
	path    string
	kind    string // database type from the metadata, e.g. "GeoLite2-City"
	loaded  time.Time
	modTime time.Time // of the file last tried (loaded, or refused)
	size    int64
	records *geoip2.Reader    // decodes a record the first time it is seen
	tree    *maxminddb.Reader // finds records: no allocation per lookup
	cache   []atomic.Pointer[geoEntry]
}

type geoEntry struct {
	offset uintptr
	loc    geoLoc
}

// geoCacheSize bounds the decoded-record cache: a Country database has a few
// hundred records, a City database many more; a miss costs one decode.
const geoCacheSize = 1 << 16

// openGeo loads path and checks that it is a City or Country database.
func openGeo(path string) (*geoDB, error) {
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
	return &geoDB{path: path, kind: kind, loaded: time.Now(), modTime: st.ModTime(), size: st.Size(),
		records: records, tree: tree, cache: make([]atomic.Pointer[geoEntry], geoCacheSize)}, nil
}

// lookup places a. bits is the length of the database network around a in
// which the answer holds (also when a is not in the database).
func (d *geoDB) lookup(a netip.Addr) (loc geoLoc, bits int, found bool) {
	res := d.tree.Lookup(a)
	bits = res.Prefix().Bits()
	if bits < 0 {
		bits = 0
	}
	if res.Err() != nil || !res.Found() {
		return geoLoc{}, bits, false
	}
	off := res.Offset()
	slot := &d.cache[off%geoCacheSize]
	if e := slot.Load(); e != nil && e.offset == off {
		return e.loc, bits, true
	}
	loc, ok := d.decode(a)
	if !ok {
		return geoLoc{}, bits, false
	}
	slot.Store(&geoEntry{offset: off, loc: loc})
	return loc, bits, true
}

func (d *geoDB) decode(a netip.Addr) (geoLoc, bool) {
	if strings.Contains(d.kind, "City") {
		c, err := d.records.City(a)
		if err != nil {
			return geoLoc{}, false
		}
		loc := geoLoc{continent: c.Continent.Code, country: c.Country.ISOCode}
		if len(c.Subdivisions) > 0 && c.Subdivisions[0].ISOCode != "" && loc.country != "" {
			loc.subdivision = loc.country + "-" + c.Subdivisions[0].ISOCode
		}
		return loc, true
	}
	c, err := d.records.Country(a)
	if err != nil {
		return geoLoc{}, false
	}
	return geoLoc{continent: c.Continent.Code, country: c.Country.ISOCode}, true
}

// changed reports whether the file on disk differs from what was loaded.
func (d *geoDB) changed() bool {
	st, err := os.Stat(d.path)
	return err == nil && (!st.ModTime().Equal(d.modTime) || st.Size() != d.size)
}

// geoCheckEvery is how often the database file is checked for replacement.
const geoCheckEvery = 5 * time.Second

// loadGeo opens the configured database (at setup, so a missing or bad file
// stops CoreDNS from starting).
func (e *engine) loadGeo() error {
	if e.cfg.GeoIP == "" {
		return nil
	}
	db, err := openGeo(e.cfg.GeoIP)
	if err != nil {
		return e.cfg.GeoIPPos.Errorf("geoip: %v", err)
	}
	if r := e.cfg.HasSubdivisionRules(); r != nil && !strings.Contains(db.kind, "City") {
		return r.Errorf("subdivision rules need a City database, but %s is %s", e.cfg.GeoIP, db.kind)
	}
	e.geo.Store(db)
	return nil
}

// watchGeo reloads the database when its file changes, until stop closes. A
// file that does not load keeps the old database in use, and says why.
func (e *engine) watchGeo(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		old := e.geo.Load()
		if old == nil || !old.changed() {
			continue
		}
		// The file as it was before reading: if a writer finishes after
		// this, the next check sees another change and tries again.
		before, serr := os.Stat(old.path)
		if serr != nil {
			continue
		}
		db, err := openGeo(old.path)
		if err == nil && e.cfg.HasSubdivisionRules() != nil && !strings.Contains(db.kind, "City") {
			err = fmt.Errorf("%s is now %s, but subdivision rules need a City database", old.path, db.kind)
		}
		if err != nil {
			geoReloads.WithLabelValues("failure").Inc()
			log.Errorf("geoip: keeping the database loaded at %s: %v", old.loaded.Format(time.RFC3339), err)
			// Remember the bad file so it is not retried every tick.
			cp := *old
			cp.modTime, cp.size = before.ModTime(), before.Size()
			e.geo.Store(&cp)
			continue
		}
		e.geo.Store(db)
		geoReloads.WithLabelValues("success").Inc()
		log.Infof("geoip: reloaded %s (%s, built %s)", db.path, db.kind, db.records.Metadata().BuildTime().Format(time.RFC3339))
	}
}
