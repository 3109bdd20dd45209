// Package geotest writes MaxMind-format GeoIP databases for tests, with
// mmdbwriter, so that geo tests run against real database files.
package geotest

import (
	"fmt"
	"path/filepath"

	"github.com/biter777/countries"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Place is one network of a database; a City database gives it
// coordinates when Lat or Lon is set.
type Place struct {
	Network, Continent, Country, Subdivision string

	Lat, Lon float64 // decimal degrees
	Radius   uint16  // accuracy radius, km
}

// Fixture is the map the geo tests share.
var Fixture = []Place{
	{Network: "81.2.69.0/24", Continent: "EU", Country: "GB", Subdivision: "ENG"},
	{Network: "2.125.160.0/19", Continent: "EU", Country: "DE", Subdivision: "BY"},
	{Network: "2.126.0.0/16", Continent: "EU", Country: "DE", Subdivision: "HH"},
	{Network: "1.0.0.0/24", Continent: "OC", Country: "AU"},
	{Network: "198.51.100.0/24", Continent: "NA", Country: "US", Subdivision: "CA"},
	{Network: "2001:db8::/32", Continent: "EU", Country: "FR", Subdivision: "IDF"},
}

// Cities are networks in cities with known coordinates, for the nearest
// policy: each a /16 of 5.0.0.0/8 (the city's number is the second byte),
// one with a country and no coordinates, and Tokyo again in IPv6.
var Cities = []Place{
	{Network: "5.1.0.0/16", Continent: "EU", Country: "DE", Subdivision: "HE", Lat: 50.1109, Lon: 8.6821, Radius: 20},   // Frankfurt
	{Network: "5.2.0.0/16", Continent: "AS", Country: "JP", Subdivision: "13", Lat: 35.6762, Lon: 139.6503, Radius: 50}, // Tokyo
	{Network: "5.3.0.0/16", Continent: "SA", Country: "BR", Subdivision: "SP", Lat: -23.5505, Lon: -46.6333, Radius: 100},
	{Network: "5.4.0.0/16", Continent: "OC", Country: "AU", Subdivision: "NSW", Lat: -33.8688, Lon: 151.2093, Radius: 20}, // Sydney
	{Network: "5.5.0.0/16", Continent: "EU", Country: "PL", Subdivision: "14", Lat: 52.2297, Lon: 21.0122, Radius: 10},    // Warsaw
	{Network: "5.6.0.0/16", Continent: "NA", Country: "US", Subdivision: "NY", Lat: 40.7128, Lon: -74.0060, Radius: 10},   // New York
	{Network: "5.7.0.0/16", Continent: "EU", Country: "PT", Subdivision: "11", Lat: 38.7223, Lon: -9.1393, Radius: 10},    // Lisbon
	{Network: "5.8.0.0/16", Continent: "EU", Country: "DE"},                                                               // a country, no coordinates
	{Network: "2001:db8:2::/48", Continent: "AS", Country: "JP", Subdivision: "13", Lat: 35.6762, Lon: 139.6503, Radius: 50},
}

// Sites are four sites for the nearest policy, as pools with locations:
// Frankfurt, Ashburn (Virginia), Singapore and São Paulo.
const Sites = `
pool fra {
	address 192.0.2.1
	location 50.1109 8.6821
}
pool iad {
	address 192.0.2.2
	location 39.0438 -77.4874
}
pool sin {
	address 192.0.2.3
	location 1.3521 103.8198
}
pool gru {
	address 192.0.2.4
	location -23.5505 -46.6333
}
`

// Nearest answers from the nearest of Sites, with a CIDR rule for 10.0.0.0/8.
const Nearest = `
instance www {
	policy nearest
	primary fra iad sin gru
	rule cidr 10.0.0.0/8 {
		primary gru
	}
}
`

// The geo tests' configuration, as gtm block text.

// Pools are one pool per answer of Instance, one address each.
const Pools = `
pool cidr {
	address 192.0.2.1
}
pool bavaria {
	address 192.0.2.2
}
pool germany {
	address 192.0.2.3
}
pool europe {
	address 192.0.2.4
}
pool world {
	address 192.0.2.5
}
`

// Instance has a rule of every kind over Fixture's places: CIDR,
// subdivision, country, continent and default, most specific first.
const Instance = `
instance www {
	rule cidr 81.2.69.128/25 10.0.0.0/8 {
		primary cidr
	}
	rule subdivision DE-BY {
		primary bavaria
	}
	rule country DE {
		primary germany
	}
	rule continent EU {
		primary europe
	}
	rule default {
		primary world
	}
}
`

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
		if city && (p.Lat != 0 || p.Lon != 0) {
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(p.Lat), "longitude": mmdbtype.Float64(p.Lon),
				"accuracy_radius": mmdbtype.Uint16(p.Radius)}
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, path, w)
}

// writeFile writes the tree to path through a temporary file and a rename,
// as an operator replaces a database.
func writeFile(t testing.TB, path string, w *mmdbwriter.Tree) {
	t.Helper()
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

// Carrier is one network of an ASN database: the autonomous system that
// routes it.
type Carrier struct {
	Network string
	ASN     uint32
	Org     string
}

// Carriers is the ASN map the ASN tests share, over networks of Fixture:
// two carriers of the asn rules (China Telecom's and China Unicom's
// numbers), and one that no rule names.
var Carriers = []Carrier{
	{Network: "1.0.0.0/24", ASN: 4134, Org: "CHINANET-BACKBONE"},
	{Network: "81.2.69.0/24", ASN: 4837, Org: "CHINA169-BACKBONE"},
	{Network: "2.125.0.0/16", ASN: 3320, Org: "Deutsche Telekom AG"},
	{Network: "2001:db8::/32", ASN: 4134, Org: "CHINANET-BACKBONE"},
}

// WriteASN writes a database of type dbType ("GeoLite2-ASN" or
// "GeoIP2-ISP") to path, replacing the file whole.
func WriteASN(t testing.TB, path, dbType string, carriers []Carrier) {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 24,
		Description: map[string]string{"en": "gtm test fixture"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range carriers {
		_, n, err := net.ParseCIDR(c.Network)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(c.ASN),
			"autonomous_system_organization": mmdbtype.String(c.Org),
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, path, w)
}

// LargeGeo writes a City database into a temporary directory and returns
// the text of a gtm block's body using it: a geo instance of realistic size
// (300 CIDR rules, a rule for every country, continent rules) named www
// over eight weighted pools.
func LargeGeo(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	places := append([]Place(nil), Fixture...)
	for i := range 200 { // more GeoIP networks across 100.64.0.0/10
		places = append(places, Place{Network: fmt.Sprintf("100.%d.%d.0/24", 64+i/50, i%50*4), Continent: "EU", Country: "DE", Subdivision: "BY"})
	}
	Write(t, path, "GeoIP2-City", places)
	var sb strings.Builder
	sb.WriteString("geoip " + path + "\n")
	for i := range 8 {
		fmt.Fprintf(&sb, "pool p%d {\n address 192.0.2.%d 192.0.2.%d\n method weight\n}\n", i, 10+i, 100+i)
	}
	sb.WriteString("instance www {\n")
	for i := range 300 {
		fmt.Fprintf(&sb, " rule cidr 10.%d.%d.0/24 {\n  primary p%d\n  secondary p%d\n }\n", i/200, i%200, i%8, (i+1)%8)
	}
	for i, c := range countries.All() {
		if a := c.Alpha2(); len(a) == 2 && countries.ByName(a).Alpha2() == a {
			fmt.Fprintf(&sb, " rule country %s {\n  primary p%d\n }\n", a, i%8)
		}
	}
	sb.WriteString(" rule subdivision DE-BY {\n  primary p1\n }\n rule continent EU AS {\n  primary p2\n }\n rule default {\n  primary p0\n }\n}\n")
	return sb.String()
}
