// Package buildinfo says which gtm a binary holds: gtm's module version and
// the VCS revision it was built from, as the Go toolchain recorded them
// (runtime/debug.ReadBuildInfo). Nothing is injected with -ldflags, so every
// build of one commit records the same and stays reproducible.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Module is gtm's module path.
const Module = "github.com/gtm-project/gtm"

// Info is what a binary says about the gtm in it.
type Info struct {
	// Version is gtm's module version: a tag (v1.2.0), a pseudo-version
	// (v0.0.0-20261202074150-416d14f12345, "+dirty" when the tree had
	// uncommitted changes), or "(devel)" when the toolchain recorded none.
	Version string
	// Revision is the VCS revision gtm was built from, with "-dirty" when
	// the tree had uncommitted changes; "unknown" when gtm is a dependency
	// of the binary (the stock plugin.cfg route) or VCS stamping was off.
	Revision string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get reads the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(bi)
}

func from(bi *debug.BuildInfo) Info {
	in := Info{Version: "(devel)", Revision: "unknown", GoVersion: runtime.Version()}
	if bi == nil {
		return in
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	if bi.Main.Path != Module {
		// gtm built into another main module: its version is the
		// requirement's (the replacement's, when replaced by a version).
		for _, d := range bi.Deps {
			if d.Path != Module {
				continue
			}
			if d.Replace != nil && d.Replace.Version != "" {
				d = d.Replace
			}
			if d.Version != "" {
				in.Version = d.Version
			}
		}
		return in
	}
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		in.Revision = rev
		if dirty {
			in.Revision += "-dirty"
		}
	}
	return in
}

// String is the one-line form used in logs and -version output:
// "gtm VERSION (revision REVISION, GOVERSION)".
func (i Info) String() string {
	return "gtm " + i.Version + " (revision " + i.Revision + ", " + i.GoVersion + ")"
}
