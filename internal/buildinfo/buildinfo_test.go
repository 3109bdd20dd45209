package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want Info
	}{
		// positive
		{"main module, clean", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: Module, Version: "v0.0.0-20261202074150-416d14f12345"},
			Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "416d14f12345aaaa"}, {Key: "vcs.modified", Value: "false"}},
		}, Info{"v0.0.0-20261202074150-416d14f12345", "416d14f12345aaaa", "go1.26.8"}},
		{"main module, dirty", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: Module, Version: "v1.2.0+dirty"},
			Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}},
		}, Info{"v1.2.0+dirty", "abc-dirty", "go1.26.8"}},
		{"dependency of stock CoreDNS", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/coredns/coredns"},
			Deps:      []*debug.Module{{Path: "github.com/miekg/dns", Version: "v1.1.73"}, {Path: Module, Version: "v1.3.0"}},
			Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "coredns-rev"}},
		}, Info{"v1.3.0", "unknown", "go1.26.8"}},
		{"dependency replaced by a version", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "example.com/dns"},
			Deps:      []*debug.Module{{Path: Module, Version: "v1.3.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.3.1"}}},
		}, Info{"v1.3.1", "unknown", "go1.26.8"}},
		// negative
		{"no VCS stamp", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: Module, Version: "(devel)"},
		}, Info{"(devel)", "unknown", "go1.26.8"}},
		{"dependency replaced by a directory", &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/coredns/coredns"},
			Deps:      []*debug.Module{{Path: Module, Version: "v0.0.0", Replace: &debug.Module{Path: "/src/gtm"}}},
		}, Info{"v0.0.0", "unknown", "go1.26.8"}},
	}
	for _, tt := range tests {
		if got := from(tt.bi); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	got := Info{"v1.2.0", "abc", "go1.26.8"}.String()
	if want := "gtm v1.2.0 (revision abc, go1.26.8)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
