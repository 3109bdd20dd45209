package gtm

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// replyErrEvery is the least time between two log lines about replies that
// could not be written: a bad configuration can break every reply, and the
// log must not grow with the query rate.
const replyErrEvery = 10 * time.Second

type rateLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

var replyErrLog rateLog

func (l *rateLog) report(r, m *dns.Msg, err error) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < replyErrEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.last = now
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	q := "?"
	if len(r.Question) > 0 {
		q = r.Question[0].Name + " " + dns.TypeToString[r.Question[0].Qtype]
	}
	log.Errorf("reply %s to %s could not be written, answered SERVFAIL: %v (%d more since the last report)", dns.RcodeToString[m.Rcode], q, err, n)
}
