package alert

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/metrictest"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		base, ceiling time.Duration
		n             int
		want          time.Duration
	}{
		{time.Second, time.Minute, 1, time.Second},
		{time.Second, time.Minute, 2, 2 * time.Second},
		{time.Second, time.Minute, 6, 32 * time.Second},
		{time.Second, time.Minute, 7, time.Minute},
		{time.Second, time.Minute, 1000, time.Minute},
		{1 << 62, math.MaxInt64, 5, math.MaxInt64}, // no overflow
	} {
		if got := backoff(tc.base, tc.ceiling, tc.n); got != tc.want {
			t.Errorf("backoff(%s, %s, %d) = %s, want %s", tc.base, tc.ceiling, tc.n, got, tc.want)
		}
	}
}

// Jitter stays in the upper half and varies.
func TestJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := jitter(time.Second)
		if j < 500*time.Millisecond || j > time.Second {
			t.Fatalf("jitter(1s) = %s", j)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Fatalf("%d distinct delays in 1000", len(seen))
	}
	if j := jitter(1); j < 0 || j > 1 {
		t.Fatalf("jitter(1ns) = %s", j)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"soon", 0}, {"1.5", 0},
		{"5", 5 * time.Second}, {" 120 ", 2 * time.Minute},
		{"99999999999999999", math.MaxInt64},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestNewIDIsUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '4' || id[18] != '-' || id[23] != '-' || !containsRune("89ab", id[19]) {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
	}
}

func containsRune(s string, c byte) bool {
	for i := range len(s) {
		if s[i] == c {
			return true
		}
	}
	return false
}

func TestSnippet(t *testing.T) {
	if got := snippet([]byte("  line one\nline\ttwo\x00\xff ")); got != "line one line two ?" {
		t.Fatalf("snippet = %q", got)
	}
}

// metric is the value of coredns_gtm_NAME{labels} (label values in the
// order of their names); 0 when absent.
func metric(t *testing.T, name string, values ...string) float64 {
	t.Helper()
	v, _ := metrictest.Value(t, name, values...)
	return v
}

func metricOK(t *testing.T, name string, values ...string) (float64, bool) {
	t.Helper()
	return metrictest.Value(t, name, values...)
}
