// Package api is gtm's control layer: an HTTP API, described by an OpenAPI
// 3.1 document generated from its Go types, that creates, reads, changes
// and deletes the configuration objects kept in the store, sets operators'
// overrides, lists history and rolls back, and serves status, events and
// explanations. Objects written in the Corefile are shown but owned by it;
// the API's own objects live in the store, and every change is validated
// with the Corefile's objects as one configuration, committed, and applied
// through the engine's one entry point, or refused with nothing changed.
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/gtm-project/gtm/alert"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/store"
)

var log = clog.NewWithPlugin("gtm")

// Service is the control API of one gtm block.
type Service struct {
	set    *config.API
	base   *config.Config // the Corefile's layer, validated
	st     *shared
	tokens []token // nil: no tokens (loopback only)
	tlsCfg *tls.Config
	http   http.Handler

	// wmu makes writes one group at a time (write.go); mu guards what
	// reads see, and is held only to publish, never across a commit.
	wmu   sync.Mutex
	qmu   sync.Mutex
	queue []*writeReq
	mu    sync.RWMutex
	eng   *engine.Engine
	state state
	rev   uint64 // the store's revision the engine answers from

	hooks    []alert.Webhook
	alerts   dispatcher
	pumpStop chan struct{}
	pumpDone chan struct{}
	str      streams

	lnMu    sync.Mutex
	srv     *http.Server
	serving chan struct{} // closed when the server goroutine ends
	addr    net.Addr
}

// New prepares the control API of a block (base.API set) and returns the
// configuration to answer from: the Corefile's objects and the store's,
// validated as one. It opens the store (shared with any other block or
// reload of the process that names the same file) and reads the tokens and
// TLS files, so that every problem is a load error; it listens only when
// started.
func New(base *config.Config) (*Service, *config.Config, error) {
	set := base.API
	s := &Service{set: set, base: base}
	var err error
	if set.Tokens != "" {
		t, err := readTokens(set.Tokens)
		if err != nil {
			return nil, nil, set.Errorf("api: %v", err)
		}
		s.tokens = t
	} else if !loopback(set.Address) {
		return nil, nil, set.Errorf("api: %s is not a loopback address, so the API needs tokens: add 'token FILE' (lines 'NAME ROLE SECRET')", set.Address)
	}
	if set.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(set.TLSCert, set.TLSKey)
		if err != nil {
			return nil, nil, set.Errorf("api: tls: %v", err)
		}
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.hooks, err = webhooks(set); err != nil {
		return nil, nil, err
	}
	st, err := openShared(storePath(set.Store))
	if err != nil {
		return nil, nil, set.Errorf("api: %v", err)
	}
	s.st = st
	cur, err := st.Current(context.Background())
	if err == nil {
		s.state, err = decodeState(cur.Data)
	}
	if err != nil {
		st.release()
		return nil, nil, set.Errorf("api: store %s: %v", st.Path(), err)
	}
	s.rev = cur.Rev
	merged, err := config.Merge(base, s.state.Config)
	if err != nil {
		st.release()
		return nil, nil, set.Errorf("api: the store's objects (revision %d) do not fit this Corefile: %v", cur.Rev, err)
	}
	merged.API = set
	s.http = s.routes()
	return s, merged, nil
}

// storePath places a relative store file in $STATE_DIRECTORY when systemd
// gives one, else in the working directory.
func storePath(p string) string {
	if !filepath.IsAbs(p) {
		if dir := os.Getenv("STATE_DIRECTORY"); dir != "" {
			p = filepath.Join(dir, p)
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start serves the API for the running engine e: it brings e to the
// store's current revision and overrides (a reload or a restart answers
// with them at once), then listens.
func (s *Service) Start(e *engine.Engine) error {
	s.wmu.Lock()
	s.mu.Lock()
	s.eng = e
	err := s.syncLocked(context.Background())
	s.mu.Unlock()
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	return s.listen()
}

// syncLocked applies the store's current revision to the engine when it
// is not what the engine answers from, and the stored overrides.
func (s *Service) syncLocked(ctx context.Context) error {
	cur, err := s.st.Current(ctx)
	if err != nil {
		return err
	}
	change := engine.Change{}
	if cur.Rev != s.rev {
		st, err := decodeState(cur.Data)
		if err != nil {
			return err
		}
		merged, err := config.Merge(s.base, st.Config)
		if err != nil {
			return fmt.Errorf("api: the store's revision %d does not fit this Corefile: %v", cur.Rev, err)
		}
		merged.API = s.set
		s.state, s.rev = st, cur.Rev
		change.Config = merged
	}
	cfg := s.eng.Config()
	if change.Config != nil {
		cfg = change.Config
	}
	var dropped []string
	s.state.Overrides, dropped = s.state.Overrides.fit(cfg)
	for _, d := range dropped {
		log.Warningf("api: %s", d)
	}
	oc := s.state.Overrides.change(cfg, s.eng.Overrides())
	change.Modes, change.Pins, change.RulePins = oc.Modes, oc.Pins, oc.RulePins
	return s.eng.Apply(change)
}

// listeners are the API addresses this process serves, by the service
// that holds each: server blocks that share a gtm block (plain DNS and DNS
// over TLS for one zone) share its API as they share its engine.
var listeners = struct {
	sync.Mutex
	m map[string]*Service
}{m: map[string]*Service{}}

// listen opens the listener and serves on it, unless a service of the
// same engine already serves this address.
func (s *Service) listen() error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.srv != nil {
		return nil
	}
	listeners.Lock()
	defer listeners.Unlock()
	if o := listeners.m[s.set.Address]; o != nil && o != s {
		o.mu.RLock()
		same := o.eng == s.eng
		o.mu.RUnlock()
		if same {
			return nil
		}
		return fmt.Errorf("api: %s is already the API of the gtm block for %v", s.set.Address, o.base.Zones)
	}
	ln, err := net.Listen("tcp", s.set.Address)
	if err != nil {
		return fmt.Errorf("api: %v", err)
	}
	if s.tlsCfg != nil {
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	srv := &http.Server{Handler: s.http, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: nil}
	s.srv, s.addr, s.serving = srv, ln.Addr(), make(chan struct{})
	listeners.m[s.set.Address] = s
	go func(done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("api: %v", err)
		}
	}(s.serving)
	log.Infof("api: listening on %s", ln.Addr())
	if err := s.startPump(); err != nil {
		log.Errorf("api: events: %v", err)
	}
	return nil
}

// Addr is where the API listens, once started.
func (s *Service) Addr() net.Addr {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	return s.addr
}

// Pause closes the listener, so that a reload can open the same address;
// Resume opens it again if the reload fails.
func (s *Service) Pause() {
	s.lnMu.Lock()
	srv, done := s.srv, s.serving
	s.srv = nil
	s.lnMu.Unlock()
	if srv == nil {
		return
	}
	listeners.Lock()
	if listeners.m[s.set.Address] == s {
		delete(listeners.m, s.set.Address)
	}
	listeners.Unlock()
	s.stopPump()
	// Event streams would hold Shutdown until its timeout.
	s.endStreams()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
	<-done
}

// Resume listens again after Pause.
func (s *Service) Resume() error { return s.listen() }

// Stop closes the listener and releases the store.
func (s *Service) Stop() {
	s.Pause()
	s.wmu.Lock()
	s.mu.Lock()
	st := s.st
	s.st = nil
	s.mu.Unlock()
	s.wmu.Unlock()
	if st != nil {
		st.release()
	}
}

// Handler is the API's HTTP handler, for tests and for embedding.
func (s *Service) Handler() http.Handler { return s.http }

// shared is a store opened once per process and file: a reload opens the
// file its predecessor holds (bbolt's lock would otherwise block it), and
// the last user closes it.
type shared struct {
	*store.Bolt
	refs int

	mu   sync.Mutex
	seen uint64 // the newest process event recorded in the log
}

// recorded reports whether the process event seq is new to this store,
// and marks it seen: a reload's new service must not record again what
// its predecessor did.
func (s *shared) recorded(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.seen {
		return false
	}
	s.seen = seq
	return true
}

var stores = struct {
	sync.Mutex
	m map[string]*shared
}{m: map[string]*shared{}}

func openShared(path string) (*shared, error) {
	stores.Lock()
	defer stores.Unlock()
	if s := stores.m[path]; s != nil {
		s.refs++
		return s, nil
	}
	b, err := store.OpenBolt(path)
	if err != nil {
		return nil, err
	}
	s := &shared{Bolt: b, refs: 1}
	stores.m[path] = s
	return s, nil
}

func (s *shared) release() {
	stores.Lock()
	defer stores.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(stores.m, s.Path())
		s.Close()
	}
}
