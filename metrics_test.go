package gtm

import (
	"testing"

	"github.com/gtm-project/gtm/internal/buildinfo"
	"github.com/gtm-project/gtm/internal/metrictest"
)

func TestBuildInfo(t *testing.T) {
	b := buildinfo.Get()
	// Labels in the order of their names: goversion, revision, version.
	if v, ok := metrictest.Value(t, "build_info", b.GoVersion, b.Revision, b.Version); !ok || v != 1 {
		t.Fatalf("coredns_gtm_build_info{%s} = %v (present %v), want 1", b, v, ok)
	}
	if _, ok := metrictest.Value(t, "build_info", b.GoVersion, b.Revision, "v9.9.9"); ok {
		t.Fatal("coredns_gtm_build_info has a series for a version this binary is not")
	}
}
