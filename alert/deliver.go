package alert

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Version is the version of the body's format.
const Version = 1

const userAgent = "gtm-alert/1"

// Body is the JSON a webhook receives; see the package doc.
type Body struct {
	Version  int    `json:"version"`
	Webhook  string `json:"webhook"`
	Node     string `json:"node"`
	Delivery string `json:"delivery"`
	Event    Event  `json:"event"`
}

// result is one attempt's outcome.
type result struct {
	err        error         // nil: delivered
	retry      bool          // another attempt may succeed
	retryAfter time.Duration // the receiver's Retry-After; 0 when none
}

// Limits on what is read of a response: a snippet for the error, and the
// rest up to a bound so that the connection can be reused.
const (
	snippetLen = 200
	drainLen   = 64 << 10
)

// deliver sends e to h until it succeeds, fails for good, or the
// dispatcher closes (then nothing is counted).
func (d *Dispatcher) deliver(h *hook, e Event) {
	id := newID()
	body, err := json.Marshal(Body{Version: Version, Webhook: h.cfg.Name, Node: d.opts.Node, Delivery: id, Event: e})
	if err != nil { // Event holds only strings, numbers and a time
		h.record(1, 1, fmt.Errorf("encoding the body: %w", err), true)
		return
	}
	for n := 1; ; n++ {
		res := d.attempt(h, body, id, e.Kind, n)
		if d.ctx.Err() != nil {
			return
		}
		final := res.err == nil || !res.retry || n >= d.opts.Attempts
		h.record(n, d.opts.Attempts, res.err, final)
		if final {
			if res.err != nil {
				log.Warningf("alert: webhook %q: event %d (%s %s) not delivered after %d attempts: %v", h.cfg.Name, e.Seq, e.Kind, e.Object, n, res.err)
			}
			return
		}
		t := time.NewTimer(d.delay(n, res.retryAfter))
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// record counts attempt n of at most of, and the delivery when final.
func (h *hook) record(n, of int, err error, final bool) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.st.Attempts++
	h.m.attempts.Inc()
	if err != nil {
		h.st.LastError = fmt.Sprintf("attempt %d of %d: %v", n, of, err)
		h.st.LastErrorTime = now
	}
	switch {
	case !final:
	case err == nil:
		h.st.Delivered++
		h.st.LastSuccessTime = now
		h.m.ok.Inc()
	default:
		h.st.Failed++
		h.m.failed.Inc()
	}
}

// attempt makes one request.
func (d *Dispatcher) attempt(h *hook, body []byte, id, kind string, n int) result {
	ctx, cancel := context.WithTimeout(d.ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil { // the URL was validated
		return result{err: err}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderEvent, kind)
	req.Header.Set(HeaderDelivery, id)
	req.Header.Set(HeaderAttempt, strconv.Itoa(n))
	req.Header.Set(HeaderTimestamp, ts)
	if h.cfg.Secret != "" {
		req.Header.Set(HeaderSignature, sigPrefix+hex.EncodeToString(mac(h.cfg.Secret, ts, body)))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, credentials and query included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timeout after %s", h.timeout)
		}
		return result{err: err, retry: true}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snippetLen))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLen))
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return result{}
	}
	err = fmt.Errorf("HTTP %s", resp.Status)
	if s := snippet(head); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return result{err: err, retry: true, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	case code >= 500:
		return result{err: err, retry: true}
	case code >= 300 && code <= 399:
		return result{err: fmt.Errorf("%w (to %q; redirects are not followed)", err, resp.Header.Get("Location"))}
	default:
		return result{err: err}
	}
}

// snippet is the start of a response body as one printable line.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	return strings.TrimSpace(s)
}

// delay is the wait after failed attempt n: the receiver's Retry-After, or
// the backoff with jitter, never above the max.
func (d *Dispatcher) delay(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, d.opts.BackoffMax)
	}
	return jitter(backoff(d.opts.BackoffBase, d.opts.BackoffMax, n))
}

// backoff is base doubled n-1 times, capped at ceiling.
func backoff(base, ceiling time.Duration, n int) time.Duration {
	b := base
	for i := 1; i < n && b < ceiling; i++ {
		if b > ceiling/2 {
			return ceiling
		}
		b *= 2
	}
	return min(b, ceiling)
}

// jitter draws from the upper half of d: the delays still grow, and the
// retries of nodes that failed together spread out.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d-d/2+1)
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP date; 0
// when absent, past or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > math.MaxInt64/int64(time.Second) {
			return math.MaxInt64
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// newID is a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails: Read aborts the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
