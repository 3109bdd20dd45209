package health

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func seqs(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// Seq numbers every recorded event from 1, and Since resumes after one,
// saying by the first Seq when the history lost some.
func TestEventsSince(t *testing.T) {
	h := NewEvents(3)
	if got := h.Since(0); len(got) != 0 {
		t.Fatalf("an empty history gives %v", got)
	}
	if e := h.Add(Event{Object: "a"}); e.Seq != 1 {
		t.Fatalf("first Seq %d, want 1", e.Seq)
	}
	h.Add(Event{Object: "b"})
	if got := seqs(h.Since(0)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("Since(0) before the history is full: %v", got)
	}
	if got := seqs(h.Since(1)); !slices.Equal(got, []uint64{2}) {
		t.Errorf("Since(1): %v", got)
	}
	for _, o := range []string{"c", "d", "e"} {
		h.Add(Event{Object: o})
	}
	for _, tc := range []struct {
		after uint64
		want  []uint64
	}{
		{0, []uint64{3, 4, 5}}, // 1 and 2 were dropped: the first Seq says so
		{1, []uint64{3, 4, 5}},
		{3, []uint64{4, 5}},
		{4, []uint64{5}},
		{5, nil},
		{9, nil}, // from a history that restarted
	} {
		got := h.Since(tc.after)
		if !slices.Equal(seqs(got), tc.want) {
			t.Errorf("Since(%d) = %v, want %v", tc.after, seqs(got), tc.want)
		}
		for _, e := range got {
			if want := string(rune('a' + e.Seq - 1)); e.Object != want {
				t.Errorf("Since(%d): Seq %d holds %q, want %q", tc.after, e.Seq, e.Object, want)
			}
		}
	}
}

// The API serves events as they are: lower-case keys, the objects'
// lists left out when empty.
func TestEventJSON(t *testing.T) {
	b, err := json.Marshal(Event{Seq: 7, Kind: KindAddress, Object: "address a/192.0.2.1",
		Pools: []string{"a"}, Addresses: []string{"192.0.2.1"}, Old: "healthy", New: "unhealthy", Reason: "timeout after 2s"})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"seq":7`, `"kind":"address"`, `"pools":["a"]`, `"addresses":["192.0.2.1"]`, `"old":"healthy"`, `"new":"unhealthy"`, `"reason":"timeout after 2s"`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "instances") || strings.Contains(got, "rule") {
		t.Errorf("%s: empty fields are kept", got)
	}
}

// A subscriber that never reads costs the emitter nothing: it loses what
// does not fit its buffer, counted, and keeps the first events in order.
func TestSubscriberNeverBlocksTheEmitter(t *testing.T) {
	h := NewEvents(DefaultHistory)
	var onDrop atomic.Int64
	h.OnDrop = func() { onDrop.Add(1) }
	slow := h.Subscribe(4)
	const n = 100_000
	// A blocking send would never return, and even a short wait per event
	// would take seconds: 100,000 events with one lock each take
	// milliseconds (a quarter of a second under the race detector).
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			h.Add(Event{Object: "x"})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%d events not recorded within 5s with a subscriber that does not read", n)
	}
	if got := slow.Dropped(); got != n-4 {
		t.Errorf("dropped %d, want %d", got, n-4)
	}
	if got := onDrop.Load(); got != n-4 {
		t.Errorf("OnDrop told of %d, want %d", got, n-4)
	}
	slow.Close()
	slow.Close() // twice is harmless
	var got []uint64
	for e := range slow.C { // ends: Close closed it, after what was buffered
		got = append(got, e.Seq)
	}
	if !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("the slow subscriber kept %v, want the first four", got)
	}
	h.Add(Event{Object: "after"}) // must not send on the closed channel
	if len(h.subs) != 0 {
		t.Errorf("%d subscriptions held after Close", len(h.subs))
	}
}

// Many emitters at once: a subscriber that keeps up sees every event once,
// in Seq order; one that lags sees some in order and the rest counted as
// dropped.
func TestSubscribersUnderConcurrentEmitters(t *testing.T) {
	h := NewEvents(50)
	fast, slow := h.Subscribe(1<<16), h.Subscribe(8)
	const emitters, each = 8, 2000
	var wg sync.WaitGroup
	for range emitters {
		wg.Go(func() {
			for range each {
				h.Add(Event{Object: "x"})
			}
		})
	}
	var slowGot []uint64
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		for e := range slow.C {
			slowGot = append(slowGot, e.Seq)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	wg.Wait()
	fast.Close()
	slow.Close()
	<-slowDone
	var fastGot []uint64
	for e := range fast.C {
		fastGot = append(fastGot, e.Seq)
	}
	const total = emitters * each
	if len(fastGot) != total || fast.Dropped() != 0 {
		t.Fatalf("the fast subscriber got %d and dropped %d of %d", len(fastGot), fast.Dropped(), total)
	}
	for i, s := range fastGot {
		if s != uint64(i+1) {
			t.Fatalf("the fast subscriber's event %d has Seq %d", i, s)
		}
	}
	for i := 1; i < len(slowGot); i++ {
		if slowGot[i] <= slowGot[i-1] {
			t.Fatalf("the slow subscriber got Seq %d after %d", slowGot[i], slowGot[i-1])
		}
	}
	if uint64(len(slowGot))+slow.Dropped() != total {
		t.Errorf("the slow subscriber got %d and dropped %d of %d", len(slowGot), slow.Dropped(), total)
	}
	if slow.Dropped() == 0 {
		t.Error("a subscriber sleeping per event dropped nothing of 16,000 sent at once")
	}
}
