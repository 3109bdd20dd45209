package plugins

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestGTMBeforeCache(t *testing.T) {
	d := dnsserver.Directives
	i := slices.Index(d, "gtm")
	if i < 0 || i+1 >= len(d) || d[i+1] != "cache" {
		t.Fatalf("gtm is not immediately before cache: %v", d)
	}
	without := slices.Delete(slices.Clone(d), i, i+1)
	if !slices.Equal(without, stock) {
		t.Fatalf("directives other than gtm changed:\n got %v\nwant %v", without, stock)
	}
}

func TestGTMRegistered(t *testing.T) {
	if !slices.Contains(caddy.ListPlugins()["others"], "dns.gtm") {
		t.Fatalf("gtm is not a registered dns plugin: %v", caddy.ListPlugins())
	}
}

func TestInsert(t *testing.T) {
	base := []string{"log", "cache", "file"}
	got, err := Insert(base[:2:2], "gtm", "cache") // capacity exactly full: must not write past it
	if err != nil || !slices.Equal(got, []string{"log", "gtm", "cache"}) {
		t.Fatalf("Insert = %v, %v", got, err)
	}
	got, err = Insert(base, "gtm", "cache")
	if err != nil || !slices.Equal(got, []string{"log", "gtm", "cache", "file"}) {
		t.Fatalf("Insert dropped or moved a directive: %v, %v", got, err)
	}
	if !slices.Equal(base, []string{"log", "cache", "file"}) {
		t.Fatalf("Insert wrote into its input: %v", base)
	}
	if _, err := Insert(base, "gtm", "nope"); err == nil {
		t.Fatal("a missing anchor must be an error")
	}
	if _, err := Insert(got, "gtm", "cache"); err == nil {
		t.Fatal("inserting a directive twice must be an error")
	}
}
