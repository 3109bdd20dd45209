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
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	wmu     sync.Mutex
	qmu     sync.Mutex
	queue   []*writeReq
	mu      sync.RWMutex
	paused  bool                        // between a reload's start and its end: writes wait for the new service
	key     string                      // names the store in the process's registry: a file's path, or etcd's endpoints and prefix
	open    func() (store.Store, error) // opens it
	cluster bool                        // the store is shared with other nodes: follow its commits
	eng     *engine.Engine
	state   state
	rev     uint64 // the store's revision the engine answers from

	hooks    []alert.Webhook
	alerts   dispatcher
	pumpStop chan struct{}
	pumpDone chan struct{}
	str      streams

	reach reach // whether the store answers (reach.go)

	node       string                 // this node's name (nodes.go)
	appliedCh  chan struct{}          // s.rev changed
	appliedAt  atomic.Int64           // when, in Unix nanoseconds
	reportDone chan struct{}          // under lnMu
	duplicate  atomic.Pointer[string] // why this node's name is another live process's; "" or nil when it is not

	followStop chan struct{} // under lnMu
	followDone chan struct{}

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
	s.reach.set(nil)
	s.node, s.appliedCh = nodeName(set.Node), make(chan struct{}, 1)
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
	// The store is read here, so that its objects are part of the
	// configuration the block loads with, and opened again by Start: a
	// setup that CoreDNS throws away (a later block fails) runs no
	// shutdown hook, and must leave the file closed.
	pos := set.Pos
	if err := s.storeOf(set); err != nil {
		return nil, nil, err
	}
	if set.Etcd != nil {
		pos = set.Etcd.Pos
	}
	st, err := openShared(s.key, s.open, s)
	if err != nil {
		return nil, nil, pos.Errorf("api: %v", err)
	}
	cur, err := st.Current(context.Background())
	if err == nil {
		s.state, err = decodeState(cur.Data)
	}
	st.release(s)
	if err != nil {
		return nil, nil, pos.Errorf("api: store %s: %v", s.key, err)
	}
	s.rev = cur.Rev
	s.applied()
	merged, err := config.Merge(base, s.state.Config)
	if err != nil {
		return nil, nil, set.Errorf("api: the store's objects (revision %d) do not fit this Corefile: %v", cur.Rev, err)
	}
	merged.API = set
	s.http = s.routes()
	return s, merged, nil
}

// storeOf sets how the block's store is named and opened: the embedded
// file, or etcd ('store etcd'), whose TLS files are read here so that a
// bad one is a load error naming its line.
func (s *Service) storeOf(set *config.API) error {
	e := set.Etcd
	if e == nil {
		path := storePath(set.Store)
		s.key = path
		s.open = func() (store.Store, error) { return store.OpenBolt(path) }
		return nil
	}
	var tlsCfg *tls.Config
	if e.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(e.TLSCert, e.TLSKey)
		if err != nil {
			return e.Errorf("api: store etcd: tls: %v", err)
		}
		pem, err := os.ReadFile(e.TLSCA)
		if err != nil {
			return e.Errorf("api: store etcd: tls: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return e.Errorf("api: store etcd: tls: %s holds no PEM certificate", e.TLSCA)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cfg := store.EtcdConfig{Endpoints: e.Endpoints, Prefix: e.Prefix, TLS: tlsCfg, DialTimeout: e.DialTimeout}
	s.key, s.cluster = e.Key(), true
	s.open = func() (store.Store, error) {
		st, err := store.OpenEtcd(context.Background(), cfg)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("store etcd %v: not reachable within %v (dial-timeout)", e.Endpoints, e.DialTimeout)
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil
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
	if s.st == nil {
		st, err := openShared(s.key, s.open, s)
		if err != nil {
			s.wmu.Unlock()
			return fmt.Errorf("api: %v", err)
		}
		s.mu.Lock()
		s.st = st
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.eng, s.paused = e, false
	e.SetRevision(s.rev)
	s.mu.Unlock()
	err := s.syncLocked(context.Background())
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	return s.listen()
}

// syncLocked brings the service and the engine to the store's current
// revision and its overrides, under wmu: at start, and when the store
// turns out to hold a revision this service did not make. Overrides that
// no longer fit the configuration are dropped in a new revision, so that
// the store says what answers.
func (s *Service) syncLocked(ctx context.Context) error {
	cur, err := s.st.Current(ctx)
	if err != nil {
		return err
	}
	st, rev := s.state, s.rev
	change := engine.Change{}
	cfg := s.eng.Config()
	if cur.Rev != rev {
		if st, err = decodeState(cur.Data); err != nil {
			return err
		}
		merged, err := config.Merge(s.base, st.Config)
		if err != nil {
			return fmt.Errorf("api: the store's revision %d does not fit this Corefile: %v", cur.Rev, err)
		}
		merged.API = s.set
		rev, cfg, change.Config = cur.Rev, merged, merged
	}
	fitted, dropped := st.Overrides.fit(cfg)
	if len(dropped) > 0 {
		for _, d := range dropped {
			log.Warningf("api: %s", d)
		}
		st.Overrides = fitted
		r, err := s.st.Commit(ctx, rev, store.Revision{Who: "gtm", Change: strings.Join(dropped, "; "), Data: st.encode()})
		if err != nil {
			return fmt.Errorf("api: dropping overrides that no longer fit: %v", err)
		}
		rev = r.Rev
	}
	oc := st.Overrides.change(cfg, s.eng.Overrides())
	change.Modes, change.Pins, change.RulePins = oc.Modes, oc.Pins, oc.RulePins
	if err := s.eng.Apply(change); err != nil {
		return err
	}
	s.mu.Lock()
	s.state, s.rev = st, rev
	s.mu.Unlock()
	s.applied()
	return nil
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
	srv := &http.Server{Handler: limit(s.http), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
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
	s.startFollow()
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
	s.stopFollow()
	s.lnMu.Unlock()
	if srv == nil {
		return
	}
	defer func() {
		// Writes still running finish before a reload's new service reads
		// the store; later ones are refused until Resume.
		s.wmu.Lock()
		s.mu.Lock()
		s.paused = true
		s.mu.Unlock()
		s.wmu.Unlock()
	}()
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

// Resume listens again after Pause, from the store's current revision.
func (s *Service) Resume() error {
	s.wmu.Lock()
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
	var err error
	if s.st != nil && s.eng != nil {
		err = s.syncLocked(context.Background())
	}
	s.wmu.Unlock()
	if err != nil {
		log.Errorf("api: %v", err)
	}
	return s.listen()
}

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
		st.release(s)
	}
}

// Handler is the API's HTTP handler, for tests and for embedding.
func (s *Service) Handler() http.Handler { return s.http }

// shared is a store opened once per process and file: a reload opens the
// file its predecessor holds (bbolt's lock would otherwise block it), and
// the last user closes it.
type shared struct {
	store.Store
	key   string
	refs  int
	users map[*Service]int // under stores

	mu   sync.Mutex
	seen uint64 // the newest process event recorded in the log

	health *clusterHealth // a cluster's store: this process's part in its health; under stores
}

// clusterHealth is the process's part in the health of the cluster whose
// store s holds, started on first use; nil for an embedded store.
func (s *shared) clusterHealth() *clusterHealth {
	c, ok := s.Store.(etcdClient)
	if !ok {
		return nil
	}
	stores.Lock()
	defer stores.Unlock()
	if s.health == nil {
		s.health = newClusterHealth(c.Client(), c.Prefix())
	}
	return s.health
}

// clusterHealth is the service's store's, if it is a cluster's.
func (s *Service) clusterHealth() *clusterHealth {
	s.mu.RLock()
	st := s.st
	s.mu.RUnlock()
	if st == nil || !s.cluster {
		return nil
	}
	return st.clusterHealth()
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

// openShared opens the store named key for svc (open opens it when the
// process does not hold it yet). Two blocks of other zones may not share a
// store: each would take the other's objects for its own.
func openShared(key string, open func() (store.Store, error), svc *Service) (*shared, error) {
	stores.Lock()
	defer stores.Unlock()
	if s := stores.m[key]; s != nil {
		for o := range s.users {
			o.mu.RLock()
			active := !o.paused && o.eng != nil
			o.mu.RUnlock()
			if o != svc && active && !slices.Equal(o.base.Zones, svc.base.Zones) {
				return nil, fmt.Errorf("store %s is the store of the gtm block for %v: give this block its own 'store FILE' (or etcd prefix)", key, o.base.Zones)
			}
		}
		s.refs++
		s.users[svc]++
		return s, nil
	}
	b, err := open()
	if err != nil {
		return nil, err
	}
	s := &shared{Store: b, key: key, refs: 1, users: map[*Service]int{svc: 1}}
	stores.m[key] = s
	return s, nil
}

func (s *shared) release(svc *Service) {
	stores.Lock()
	defer stores.Unlock()
	if s.users[svc]--; s.users[svc] <= 0 {
		delete(s.users, svc)
	}
	s.refs--
	if s.refs == 0 {
		delete(stores.m, s.key)
		if s.health != nil {
			s.health.close()
			s.health = nil
		}
		s.Close()
	}
}

// limit lets at most a few API requests run at once, so that however many
// clients the API has, the DNS answers keep their share of the CPUs: Go
// schedules runnable goroutines alike, and 200 busy API handlers would
// leave a query waiting its turn behind them. Event streams, which wait
// rather than work, are not counted.
func limit(h http.Handler) http.Handler {
	sem := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stream") {
			h.ServeHTTP(w, r)
			return
		}
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-sem }()
		h.ServeHTTP(w, r)
	})
}
