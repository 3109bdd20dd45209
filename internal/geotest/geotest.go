// Package geotest writes MaxMind-format GeoIP databases for tests, with
// mmdbwriter, so that geo tests run against real database files.
package geotest

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Place is one network of a database.
type Place struct {
	Network, Continent, Country, Subdivision string
}

// Fixture is the map the geo tests share.
var Fixture = []Place{
	{"81.2.69.0/24", "EU", "GB", "ENG"},
	{"2.125.160.0/19", "EU", "DE", "BY"},
	{"2.126.0.0/16", "EU", "DE", "HH"},
	{"1.0.0.0/24", "OC", "AU", ""},
	{"198.51.100.0/24", "NA", "US", "CA"},
	{"2001:db8::/32", "EU", "FR", "IDF"},
}

// Write writes a database of type dbType ("GeoIP2-City" or
// "GeoIP2-Country") to path, replacing the file whole. Reserved networks
// (loopback, documentation ranges) are allowed.
func Write(t testing.TB, path, dbType string, places []Place) {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 24,
		Description: map[string]string{"en": "gtm test fixture"}})
	if err != nil {
		t.Fatal(err)
	}
	city := strings.Contains(dbType, "City")
	for _, p := range places {
		_, n, err := net.ParseCIDR(p.Network)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"continent": mmdbtype.Map{"code": mmdbtype.String(p.Continent)},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(p.Country)},
		}
		if city && p.Subdivision != "" {
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(p.Subdivision)}}
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
