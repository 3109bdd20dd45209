package gtm

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

const oneInstance = poolA + `
instance www {
	primary a
}`

// Queries from many goroutines at once, each on a fresh goroutine as
// miekg/dns serves them, are all answered right, by workers or in place.
func TestAnswerWorkersConcurrent(t *testing.T) {
	g := newGTM(t, oneInstance)
	g.Engine().Rand = policy.DefaultRand // newGTM's seeded source is for one goroutine
	workersUp()                          // as a started handler does
	t.Cleanup(workersDown)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				done := make(chan string, 1)
				go func() { // one goroutine per query
					m, rc := query(t, g, "www.example.org.", dns.TypeA, j%2 == 0)
					if rc != dns.RcodeSuccess || m == nil || len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), "192.0.2.1") {
						done <- fmt.Sprintf("client %d query %d: rcode %d, %v", i, j, rc, m)
						return
					}
					done <- ""
				}()
				if e := <-done; e != "" {
					select {
					case errs <- e:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// blockingWriter holds WriteMsg until release is closed.
type blockingWriter struct {
	test.ResponseWriter
	entered chan struct{}
	release chan struct{}
}

func (b *blockingWriter) WriteMsg(m *dns.Msg) error {
	b.entered <- struct{}{}
	<-b.release
	return nil
}

// With every worker held (each writing to a client that does not read),
// a query is answered on its own goroutine: none waits for a worker.
func TestAnswerWorkersNoneIdle(t *testing.T) {
	g := newGTM(t, oneInstance)
	g.Engine().Rand = policy.DefaultRand
	workersUp() // as a started handler does
	t.Cleanup(workersDown)
	n := 4 * runtime.GOMAXPROCS(0)
	bw := &blockingWriter{entered: make(chan struct{}, n), release: make(chan struct{})}
	var held sync.WaitGroup
	for range n {
		held.Add(1)
		go func() {
			defer held.Done()
			m := new(dns.Msg)
			m.SetQuestion("www.example.org.", dns.TypeA)
			g.ServeDNS(context.Background(), bw, m)
		}()
	}
	// Each held query sits in WriteMsg: on a worker, or in place when it
	// found none idle. Either way, n of them are in.
	for range n {
		select {
		case <-bw.entered:
		case <-time.After(5 * time.Second):
			close(bw.release)
			t.Fatal("the held queries did not all reach WriteMsg within 5 s")
		}
	}
	answered := make(chan *dns.Msg, 1)
	go func() {
		m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
		answered <- m
	}()
	select {
	case m := <-answered:
		if m == nil || len(m.Answer) != 1 {
			t.Errorf("the query beside held workers: %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Error("a query waited for a busy worker for 5 s")
	}
	close(bw.release)
	held.Wait()
}

// panicWriter panics in WriteMsg, as a broken writer of another plugin
// might.
type panicWriter struct{ test.ResponseWriter }

func (*panicWriter) WriteMsg(*dns.Msg) error { panic("writer exploded") }

// A panic while answering reaches the query's own goroutine (where CoreDNS
// recovers it into a SERVFAIL) with the stack where it happened, and the
// workers keep serving.
func TestAnswerWorkersPanic(t *testing.T) {
	g := newGTM(t, oneInstance)
	g.Engine().Rand = policy.DefaultRand
	workersUp() // as a started handler does
	t.Cleanup(workersDown)
	// More panics on workers than there are workers: had a panic ended
	// its worker, the later queries would all answer in place. A query
	// that finds no worker waiting yet (they may not have run at all on a
	// loaded machine) answers in place, and the next one waits a little.
	workersN, onWorker := 4*runtime.GOMAXPROCS(0), 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; onWorker <= workersN; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d queries in 20 s only %d were answered by a worker, of %d workers", i, onWorker, workersN)
		}
		got := func() (p any) {
			defer func() { p = recover() }()
			m := new(dns.Msg)
			m.SetQuestion("www.example.org.", dns.TypeA)
			g.ServeDNS(context.Background(), &panicWriter{}, m)
			return nil
		}()
		s, ok := got.(fmt.Stringer)
		if !ok || !strings.Contains(s.String(), "writer exploded") || !strings.Contains(s.String(), "panicWriter") {
			t.Fatalf("query %d: recovered %v; want the panic's value and its stack", i, got)
		}
		if strings.Contains(s.String(), "answerWorker") {
			onWorker++
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	if rc, err := g.ServeDNS(context.Background(), rec, m); err != nil || rc != dns.RcodeSuccess || rec.Msg == nil || len(rec.Msg.Answer) != 1 {
		t.Errorf("after the panics: rcode %d, %v, %v", rc, err, rec.Msg)
	}
}
