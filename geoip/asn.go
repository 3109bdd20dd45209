package geoip

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// ASN is a loaded MaxMind GeoLite2-ASN or GeoIP2-ISP database: the
// autonomous system that routes an address (the carrier or ISP line of a
// client). Like DB, it is read into memory once, verified whole (an ASN
// database is about 12 MB: a fraction of a second), and a replaced file
// is a new ASN.
type ASN struct {
	path    string
	kind    string
	loaded  time.Time
	modTime time.Time
	size    int64
	tree    *maxminddb.Reader
	cache   []atomic.Pointer[asnEntry] // decoded numbers by record offset
}

type asnEntry struct {
	offset uintptr
	asn    uint32
}

// asnCacheSize bounds the decoded-number cache (GeoLite2-ASN has about
// half a million networks but far fewer records); a miss decodes one
// number.
const asnCacheSize = 1 << 16

// OpenASN loads path and checks that it is a whole GeoLite2-ASN or
// GeoIP2-ISP database.
func OpenASN(path string) (*ASN, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tree, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not a MaxMind database: %w", path, err)
	}
	kind := tree.Metadata.DatabaseType
	if !strings.Contains(kind, "ASN") && !strings.Contains(kind, "ISP") {
		return nil, fmt.Errorf("%s is a %s database; asn needs a GeoLite2-ASN or GeoIP2-ISP one", path, kind)
	}
	if err := tree.Verify(); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	return &ASN{path: path, kind: kind, loaded: time.Now(), modTime: st.ModTime(), size: st.Size(), tree: tree,
		cache: make([]atomic.Pointer[asnEntry], asnCacheSize)}, nil
}

// Lookup returns the autonomous system number of a. bits is the length of
// the database network around a in which the answer holds (also when a is
// not in the database, or its record has no number).
func (d *ASN) Lookup(a netip.Addr) (asn uint32, bits int, found bool) {
	res := d.tree.Lookup(a)
	bits = max(res.Prefix().Bits(), 0)
	if res.Err() != nil || !res.Found() {
		return 0, bits, false
	}
	off := res.Offset()
	slot := &d.cache[off%asnCacheSize]
	if e := slot.Load(); e != nil && e.offset == off {
		return e.asn, bits, e.asn != 0
	}
	var n uint32
	if err := res.DecodePath(&n, "autonomous_system_number"); err != nil {
		return 0, bits, false
	}
	slot.Store(&asnEntry{offset: off, asn: n})
	return n, bits, n != 0
}

// Changed reports whether the file on disk differs from what was loaded.
func (d *ASN) Changed() bool {
	st, err := os.Stat(d.path)
	return err == nil && (!st.ModTime().Equal(d.modTime) || st.Size() != d.size)
}

// Path is the file the database was read from.
func (d *ASN) Path() string { return d.path }

// Kind is the database type its metadata gives, e.g. "GeoLite2-ASN".
func (d *ASN) Kind() string { return d.kind }

// Loaded is when the database was read.
func (d *ASN) Loaded() time.Time { return d.loaded }

// Built is when MaxMind built the database.
func (d *ASN) Built() time.Time {
	return time.Unix(int64(d.tree.Metadata.BuildEpoch), 0).UTC()
}

// Refused returns a copy of d that remembers the file's state as stat found
// it: a file that failed to load is not tried again until it changes once
// more.
func (d *ASN) Refused(st os.FileInfo) *ASN {
	return &ASN{path: d.path, kind: d.kind, loaded: d.loaded, modTime: st.ModTime(), size: st.Size(), tree: d.tree, cache: d.cache}
}
