package alert

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The documented construction, checked against a value computed outside Go
// (Python's hmac module), so that receivers in any language agree with it.
func TestSignKnownValue(t *testing.T) {
	got := Sign("s3cret", 1767225600, []byte(`{"a":1}`))
	want := "sha256=7d4120fcebf444efab10ba7cd6c651bf463cefb039db5fad37ff9f7231ac8a4a"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"version":1,"webhook":"ops"}`)
	signed := func(secret string, at time.Time, b []byte) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
		h.Set(HeaderSignature, Sign(secret, at.Unix(), b))
		return h
	}
	with := func(h http.Header, key, value string) http.Header {
		h = h.Clone()
		if value == "" {
			h.Del(key)
		} else {
			h.Set(key, value)
		}
		return h
	}
	good := signed("k", now, body)
	tests := []struct {
		name   string
		secret string
		body   string
		header http.Header
		err    string // "" for valid
	}{
		// positive
		{"fresh", "k", string(body), good, ""},
		{"4 minutes old", "k", string(body), signed("k", now.Add(-4*time.Minute), body), ""},
		{"4 minutes ahead", "k", string(body), signed("k", now.Add(4*time.Minute), body), ""},
		// negative
		{"tampered body", "k", strings.Replace(string(body), "ops", "opz", 1), good, "does not match"},
		{"body with a trailing newline", "k", string(body) + "\n", good, "does not match"},
		{"wrong secret", "other", string(body), good, "does not match"},
		{"stale", "k", string(body), signed("k", now.Add(-6*time.Minute), body), "more than 5m0s"},
		{"from the future", "k", string(body), signed("k", now.Add(6*time.Minute), body), "more than 5m0s"},
		{"timestamp changed after signing", "k", string(body), with(good, HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), "does not match"},
		{"no timestamp", "k", string(body), with(good, HeaderTimestamp, ""), "no X-Gtm-Timestamp header"},
		{"no signature", "k", string(body), with(good, HeaderSignature, ""), "no X-Gtm-Signature header"},
		{"timestamp not a number", "k", string(body), with(good, HeaderTimestamp, "yesterday"), "not unix seconds"},
		{"no algorithm", "k", string(body), with(good, HeaderSignature, strings.TrimPrefix(good.Get(HeaderSignature), "sha256=")), `does not start with "sha256="`},
		{"not hex", "k", string(body), with(good, HeaderSignature, "sha256=zz"), "not hex"},
		{"no secret", "", string(body), good, "no secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyAt(tc.secret, []byte(tc.body), tc.header, now, MaxSkew)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.err)
			case tc.err != "" && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.err)):
				t.Fatalf("error %q, want it to say %q", err, tc.err)
			}
		})
	}
}

// Verify uses the real clock: a signature made now passes, one made ten
// minutes ago does not.
func TestVerifyNow(t *testing.T) {
	body := []byte("{}")
	h := http.Header{}
	ts := time.Now().Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign("k", ts, body))
	if err := Verify("k", body, h); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-10 * time.Minute).Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(old, 10))
	h.Set(HeaderSignature, Sign("k", old, body))
	if err := Verify("k", body, h); err == nil {
		t.Fatal("a ten-minute-old signature was accepted")
	}
}
