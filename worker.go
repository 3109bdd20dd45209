package gtm

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/gtm-project/gtm/engine"
	"github.com/miekg/dns"
)

// miekg/dns serves every UDP packet on a goroutine of its own, which starts
// with a small stack. gtm's answer (the selection, and with DO the
// signature) goes deeper than that stack, so the runtime grew and copied it
// on every query: 20.6 % of the CPU in a profile of the real
// server. Workers that live as long as the process keep a stack grown once;
// a query hands its answer to an idle one and waits for it, or answers on
// its own goroutine when none is idle (so nothing ever waits for a worker).
// The handoff costs two goroutine switches, far less than the copying.

// answerJob is one query's answer, handed to a worker. Pooled, so that the
// handoff allocates nothing.
type answerJob struct {
	g   *GTM
	q   engine.Query
	w   dns.ResponseWriter
	r   *dns.Msg
	out engine.Outcome
	// panicked is a panic of the answer, given back to the query's
	// goroutine, where CoreDNS recovers it into a SERVFAIL.
	panicked *answerPanic
	done     chan struct{}
}

type answerPanic struct {
	value any
	stack []byte
}

func (p *answerPanic) String() string { return fmt.Sprintf("%v\n%s", p.value, p.stack) }

var (
	answerJobs = sync.Pool{New: func() any { return &answerJob{done: make(chan struct{}, 1)} }}
	// workers run while some gtm handler of the process is started (each
	// counts as a user), so that nothing of gtm outlives its shutdown.
	workers struct {
		mu    sync.Mutex
		users int
		quit  chan struct{}
	}
	// jobs is unbuffered: a send succeeds only into an idle worker. Never
	// closed; a query that finds no worker answers in place.
	jobs = make(chan *answerJob)
)

// workersUp starts the workers for a handler that starts (the first one
// starts them), four per CPU: a worker that waits on a slow TCP client
// holds one, and the rest keep serving.
func workersUp() {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	if workers.users++; workers.users > 1 {
		return
	}
	workers.quit = make(chan struct{})
	for range 4 * runtime.GOMAXPROCS(0) {
		go answerWorker(workers.quit)
	}
}

// workersDown stops them when the last started handler stops.
func workersDown() {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	if workers.users == 0 {
		return
	}
	if workers.users--; workers.users == 0 {
		close(workers.quit)
	}
}

func answerWorker(quit <-chan struct{}) {
	for {
		select {
		case j := <-jobs:
			j.run()
			j.done <- struct{}{}
		case <-quit:
			return
		}
	}
}

// run answers the query and writes the reply, unless the engine passes the
// query on (the next plugin then runs on the query's own goroutine).
func (j *answerJob) run() {
	defer func() {
		if p := recover(); p != nil {
			j.panicked = &answerPanic{value: p, stack: debug.Stack()}
		}
	}()
	m, out := j.g.engine.Answer(j.q)
	j.out = out
	if out == engine.Reply {
		j.g.reply(j.w, j.r, m)
	}
}

// answer answers q on a worker when one is idle, else here, and tells
// whether the reply was written (engine.Reply) or the query is passed on.
func (g *GTM) answer(q engine.Query, w dns.ResponseWriter, r *dns.Msg) engine.Outcome {
	j := answerJobs.Get().(*answerJob)
	j.g, j.q, j.w, j.r = g, q, w, r
	select {
	case jobs <- j:
		<-j.done
	default:
		j.run()
	}
	out, p := j.out, j.panicked
	*j = answerJob{done: j.done} // no reference to this query outlives it
	answerJobs.Put(j)
	if p != nil {
		panic(p)
	}
	return out
}
