package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	HeaderEvent     = "X-GTM-Event"
	HeaderDelivery  = "X-GTM-Delivery"
	HeaderAttempt   = "X-GTM-Attempt"
	HeaderTimestamp = "X-GTM-Timestamp"
	HeaderSignature = "X-GTM-Signature"
)

// MaxSkew is how far X-GTM-Timestamp may be from the receiver's clock for
// Verify: wide enough for clocks that drift and a slow network, narrow
// enough that a captured request is soon useless.
const MaxSkew = 5 * time.Minute

// sigPrefix names the algorithm, so that another can be added without
// receivers mistaking it for this one.
const sigPrefix = "sha256="

// Sign is the X-GTM-Signature value of body sent with X-GTM-Timestamp
// timestamp: "sha256=" and the hex HMAC-SHA256, keyed with secret, of the
// timestamp in decimal, a '.', and body.
func Sign(secret string, timestamp int64, body []byte) string {
	return sigPrefix + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp, 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks that body and header (a request's) were signed with secret
// no more than MaxSkew from now. Receivers pass the body's exact bytes, as
// read, before any decoding.
func Verify(secret string, body []byte, header http.Header) error {
	return VerifyAt(secret, body, header, time.Now(), MaxSkew)
}

// VerifyAt is Verify with the receiver's clock and tolerance given.
func VerifyAt(secret string, body []byte, header http.Header, now time.Time, maxSkew time.Duration) error {
	if secret == "" {
		return errors.New("no secret to verify with")
	}
	ts := header.Get(HeaderTimestamp)
	if ts == "" {
		return fmt.Errorf("no %s header", HeaderTimestamp)
	}
	sig := header.Get(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("no %s header", HeaderSignature)
	}
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not unix seconds", HeaderTimestamp, ts)
	}
	hexSum, ok := strings.CutPrefix(sig, sigPrefix)
	if !ok {
		return fmt.Errorf("%s does not start with %q", HeaderSignature, sigPrefix)
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return fmt.Errorf("%s is not hex", HeaderSignature)
	}
	// The signature first: a timestamp is worth reporting only when it is
	// the sender's.
	if !hmac.Equal(got, mac(secret, ts, body)) {
		return errors.New("signature does not match the body")
	}
	skew := now.Sub(time.Unix(sent, 0))
	if skew > maxSkew || skew < -maxSkew {
		return fmt.Errorf("timestamp %s is %s from now, more than %s", time.Unix(sent, 0).UTC().Format(time.RFC3339), skew.Round(time.Second), maxSkew)
	}
	return nil
}
