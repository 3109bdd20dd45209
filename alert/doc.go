// Package alert delivers gtm's events to webhooks: an HTTP POST of a JSON
// body per event and webhook, signed when the webhook has a secret, from a
// bounded queue per webhook with retries and backoff.
//
// The event path (health verdicts, compiles, answers) calls Dispatcher.Send,
// which never waits for a receiver: it appends the event to each interested
// webhook's queue under that queue's lock and returns. Each webhook has its
// own delivery goroutine, so a slow or dead receiver delays only its own
// events. Events of one webhook are delivered one at a time, in the order
// they were sent, so a receiver never sees an "up" before the "down" it
// follows; while one is retried, those after it wait.
//
// # Queue
//
// Each webhook's queue holds Options.QueueSize events (default 1000) waiting
// for delivery, besides the one being delivered. When it is full, the OLDEST
// waiting event is dropped to make room and counted as dropped: a receiver
// that falls behind still gets the newest changes, which say how things
// stand now, and that is what an alert is for. Close discards what is still queued; those events
// are not counted.
//
// # Delivery and retries
//
// An attempt succeeds on any 2xx status. Network errors, timeouts, 5xx and
// 429 are retried, up to Options.Attempts attempts in all (default 8), after
// a delay that doubles from Options.BackoffBase (default 1s) up to
// Options.BackoffMax (default 1 min), each delay drawn at random from its
// upper half so that retries of many nodes spread out. A Retry-After header
// (seconds or an HTTP date) on a 429 or 503 replaces the delay, capped at
// BackoffMax. Any other status (3xx — redirects are not followed —, 4xx
// other than 429) fails the delivery at once: the receiver refused it and
// would refuse it again. Each attempt has the webhook's Timeout (default
// 5s), and Close cancels the one in flight.
//
// # Request
//
//	POST <webhook url>
//	Content-Type: application/json
//	User-Agent: gtm-alert/1
//	X-GTM-Event: switchover                            the event's kind
//	X-GTM-Delivery: 0b8f6a0e-3c52-4c55-9a0e-8e6f1d4e2a17  same on every attempt of one delivery
//	X-GTM-Attempt: 1                                   1 for the first attempt, 2 for the first retry, ...
//	X-GTM-Timestamp: 1767225600                        unix seconds when this attempt was sent
//	X-GTM-Signature: sha256=5d1c...                    only when the webhook has a secret
//
//	{
//	  "version": 1,
//	  "webhook": "ops",
//	  "node": "dns1.example.net",
//	  "delivery": "0b8f6a0e-3c52-4c55-9a0e-8e6f1d4e2a17",
//	  "event": {
//	    "seq": 42,
//	    "time": "2026-01-01T00:00:00Z",
//	    "kind": "switchover",
//	    "object": "instance www.example.org.",
//	    "old": "primary",
//	    "new": "secondary",
//	    "reason": "pool site-a: no healthy address",
//	    "instance": "www.example.org.",
//	    "rule": "default",
//	    "pools": ["site-b"]
//	  }
//	}
//
// The body's fields: version is this format's version (1; a field may be
// added within a version, never removed or changed in meaning); webhook is
// the webhook's name; node the sending node (Options.Node, default the host
// name); delivery a random UUID, the same on every attempt of the delivery,
// so a receiver can discard the repeats a lost response causes. The event's
// fields are Event's: seq, time (RFC 3339), kind, object, old and new are
// always present; reason, instance, rule, address and pools only when they
// apply to the event. The body bytes are the same on every attempt; only
// the headers X-GTM-Attempt, X-GTM-Timestamp and X-GTM-Signature change.
// (Header names are case-insensitive; Go sends them as X-Gtm-Event and so
// on.)
//
// # Signature
//
// When the webhook has a secret, the request carries
//
//	X-GTM-Signature: sha256=<hex(HMAC-SHA256(secret, timestamp + "." + body))>
//
// where timestamp is the X-GTM-Timestamp header's value exactly as sent
// (decimal unix seconds) and body the request body's exact bytes. Because
// the timestamp is signed, a captured request cannot be replayed later than
// the receiver's tolerance: Verify checks the signature in constant time and
// refuses a timestamp more than MaxSkew (5 minutes) away from the
// receiver's clock. A receiver that must refuse replays within that window
// too remembers the deliveries it has seen for MaxSkew. Sign computes the
// header's value, for receivers in other languages to test against.
//
// # Metrics
//
//   - coredns_gtm_alert_deliveries_total{webhook, result}: deliveries by
//     result, "ok", "failed" (refused, or attempts exhausted) or "dropped"
//     (queue full).
//   - coredns_gtm_alert_attempts_total{webhook}: HTTP attempts.
//
// The vectors are registered once per process, whatever the number of
// dispatchers a reload creates; a webhook's series are deleted when the
// last open dispatcher that has it closes. A closed dispatcher changes
// neither its metrics nor its Status.
//
// # Reloads
//
// A Dispatcher's webhooks are fixed. A new configuration makes a new
// Dispatcher (New) and closes the old one (Close); events still queued in
// the old one are discarded.
package alert
