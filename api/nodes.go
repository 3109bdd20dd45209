package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gtm-project/gtm/config"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Nodes and the in-sync report: with a shared store, each node records
// under PREFIX+"nodes/NAME" the revision it answers from ({node, revision,
// time}), under a lease of nodeTTL that it keeps alive, so that the key
// goes when the node stops (the lease is revoked) or dies (it lapses). A
// goroutine beside the follower writes it at start and whenever the
// service applies a revision (its own commits, others' followed).
// GET /api/v1/cluster lists the live nodes and says whether every one has
// applied a revision: pending until then, insync after.

// nodeTTL is the lease of a node's key, in seconds: a node that dies
// leaves the list within it.
const nodeTTL = 10

// nodeRecord is a node's key's value.
type nodeRecord struct {
	Node     string    `json:"node"`
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	// Process tells this process's records (a reload's predecessor's)
	// from another process's that took the same name.
	Process string          `json:"process"`
	Vantage *config.Vantage `json:"vantage,omitempty"`
	Probe   bool            `json:"probe"`
}

// processID names this process among the nodes' records.
var processID = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// etcdClient is what the etcd store gives beside Store.
type etcdClient interface {
	Client() *clientv3.Client
	Prefix() string
}

// nodeName is the block's 'node', or the host's name.
func nodeName(n string) string {
	if n != "" {
		return n
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "gtm"
	}
	return h
}

// applied tells the reporter that s.rev changed, and the engine (for its
// config_info metric); called after publishing.
func (s *Service) applied() {
	s.mu.Lock()
	rev, eng := s.rev, s.eng
	s.mu.Unlock()
	if eng != nil {
		eng.SetRevision(rev)
	}
	s.appliedAt.Store(time.Now().UnixNano())
	select {
	case s.appliedCh <- struct{}{}:
	default:
	}
}

// startReport starts recording this node's revision, under lnMu, when the
// store is etcd's.
func (s *Service) startReport(ctx context.Context) {
	s.mu.RLock()
	st := s.st
	s.mu.RUnlock()
	if st == nil {
		return
	}
	c, ok := st.Store.(etcdClient)
	if !ok {
		return
	}
	done := make(chan struct{})
	s.reportDone = done
	go s.report(ctx, done, c.Client(), c.Prefix()+"nodes/"+s.node)
}

func (s *Service) report(ctx context.Context, done chan struct{}, cli *clientv3.Client, key string) {
	defer close(done)
	var (
		lease    clientv3.LeaseID
		ka       <-chan *clientv3.LeaseKeepAliveResponse
		kaCancel = func() {}
		dirty    = true
		retry    = time.NewTimer(time.Hour)
	)
	defer retry.Stop()
	defer func() {
		kaCancel()
		if lease != 0 {
			c, cancel := context.WithTimeout(context.Background(), time.Second)
			cli.Revoke(c, lease) // the key goes with it; else it lapses
			cancel()
		}
	}()
	for {
		if lease == 0 && ctx.Err() == nil {
			c, cancel := context.WithTimeout(ctx, commitTimeout)
			g, err := cli.Grant(c, nodeTTL)
			cancel()
			if err == nil {
				kctx, kcancel := context.WithCancel(ctx)
				if ka, err = cli.KeepAlive(kctx, g.ID); err != nil {
					kcancel()
					c, cancel := context.WithTimeout(ctx, time.Second)
					cli.Revoke(c, g.ID)
					cancel()
				} else {
					lease, kaCancel, dirty = g.ID, kcancel, true
				}
			}
		}
		if lease != 0 && dirty && ctx.Err() == nil {
			rec := nodeRecord{Node: s.node, Revision: s.curRev(), Time: time.Now().UTC(), Process: processID, Probe: !s.set.NoProbe}
			if s.set.Vantage != (config.Vantage{}) {
				rec.Vantage = &s.set.Vantage
			}
			v, _ := json.Marshal(rec)
			c, cancel := context.WithTimeout(ctx, commitTimeout)
			err := s.putNode(c, cli, key, string(v), lease)
			cancel()
			if err == nil {
				dirty = false
			} else if ctx.Err() == nil && !errors.Is(err, errDuplicate) {
				log.Warningf("api: recording node %s's revision: %v", s.node, err)
			}
		}
		if lease == 0 || dirty {
			retry.Reset(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.appliedCh:
			dirty = true
		case _, ok := <-ka:
			if !ok { // the lease lapsed or its keep-alive ended: a new one
				kaCancel()
				kaCancel, lease, ka = func() {}, 0, nil
			}
		case <-retry.C:
		}
	}
}

// errDuplicate is a node name another live process holds.
var errDuplicate = errors.New("duplicate")

// putNode writes this node's record unless another live process holds
// the name: two nodes under one name would take each other's votes and
// revisions for their own, so the second waits (and says so) until the
// first is gone.
func (s *Service) putNode(ctx context.Context, cli *clientv3.Client, key, val string, lease clientv3.LeaseID) error {
	r, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val, clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return err
	}
	if !r.Succeeded {
		kvs := r.Responses[0].GetResponseRange().Kvs
		var other nodeRecord
		if len(kvs) == 1 && clientv3.LeaseID(kvs[0].Lease) != lease && (json.Unmarshal(kvs[0].Value, &other) != nil || other.Process != processID) {
			s.setDuplicate(fmt.Sprintf("another live gtm process (%s) is node %s: give each node its own 'node NAME'; this one neither reports nor votes until that one is gone", other.Process, s.node))
			return errDuplicate
		}
		// Its own record, or a reload's predecessor's in this process.
		if _, err := cli.Put(ctx, key, val, clientv3.WithLease(lease)); err != nil {
			return err
		}
	}
	s.setDuplicate("")
	return nil
}

// setDuplicate records why this node's name is taken ("" when it is not),
// logging the change.
func (s *Service) setDuplicate(why string) {
	old := s.duplicate.Swap(&why)
	if old != nil && *old == why {
		return
	}
	if why != "" {
		log.Errorf("api: %s", why)
	} else if old != nil && *old != "" {
		log.Infof("api: node %s: the name is this node's again", s.node)
	}
	if ch := s.clusterHealth(); ch != nil {
		ch.duplicate.Store(why != "")
		select {
		case ch.kick <- struct{}{}:
		default:
		}
	}
}

// ClusterNode is one live node and the revision it answers from.
type ClusterNode struct {
	Node     string          `json:"node"`
	Revision uint64          `json:"revision" doc:"the store's revision this node has applied"`
	Time     time.Time       `json:"time" doc:"when it applied it"`
	Self     bool            `json:"self" doc:"the node that answered this request"`
	Vantage  *config.Vantage `json:"vantage,omitempty" doc:"where the node probes from"`
	Probe    bool            `json:"probe" doc:"false for a resolution-only node (probe off)"`
}

// ClusterBody is the in-sync report of a revision.
type ClusterBody struct {
	Revision uint64        `json:"revision" doc:"the revision asked about"`
	Status   string        `json:"status" enum:"pending,insync" doc:"insync when every live node has applied the revision"`
	Behind   []string      `json:"behind" doc:"the live nodes that have not applied it yet"`
	Nodes    []ClusterNode `json:"nodes" doc:"the live nodes, by name"`
}

type clusterInput struct {
	Revision uint64 `query:"revision" doc:"the revision to report on; this node's current revision if 0 or absent"`
}

type clusterOutput struct {
	ETag string `header:"ETag"`
	Body ClusterBody
}

func (s *Service) registerCluster(api huma.API) {
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "get-cluster", Method: http.MethodGet, Path: "/api/v1/cluster", Tags: []string{"Status"},
		Summary:     "The live nodes, the revision each has applied, and whether a revision is everywhere",
		Description: "Like Route 53's change status: pending until every live node (one whose lease holds) has applied the revision, then insync. With the embedded store there is one node, this one."}),
		func(ctx context.Context, in *clusterInput) (*clusterOutput, error) {
			s.mu.RLock()
			st, rev, running := s.st, s.rev, s.eng != nil
			s.mu.RUnlock()
			if !running || st == nil {
				return nil, huma.Error503ServiceUnavailable("the API is not running")
			}
			want := in.Revision
			if want == 0 {
				want = rev
			}
			var nodes []ClusterNode
			if ec, ok := st.Store.(etcdClient); ok {
				c, cancel := context.WithTimeout(ctx, commitTimeout)
				r, err := ec.Client().Get(c, ec.Prefix()+"nodes/", clientv3.WithPrefix())
				cancel()
				if err != nil {
					if unreachable(err) {
						s.reach.set(err)
						return nil, huma.Error503ServiceUnavailable(s.unreachableError(unreachableWhy(err, commitTimeout)))
					}
					return nil, huma.Error500InternalServerError("store: " + err.Error())
				}
				for _, kv := range r.Kvs {
					var n nodeRecord
					if json.Unmarshal(kv.Value, &n) != nil {
						continue
					}
					n.Node = strings.TrimPrefix(string(kv.Key), ec.Prefix()+"nodes/")
					nodes = append(nodes, ClusterNode{Node: n.Node, Revision: n.Revision, Time: n.Time, Self: n.Node == s.node, Vantage: n.Vantage, Probe: n.Probe})
				}
			} else {
				nodes = []ClusterNode{{Node: s.node, Revision: rev, Time: time.Unix(0, s.appliedAt.Load()).UTC(), Self: true, Probe: true}}
			}
			slices.SortFunc(nodes, func(a, b ClusterNode) int { return strings.Compare(a.Node, b.Node) })
			body := ClusterBody{Revision: want, Status: "insync", Behind: []string{}, Nodes: nodes}
			if body.Nodes == nil {
				body.Nodes = []ClusterNode{}
			}
			for _, n := range nodes {
				if n.Revision < want {
					body.Behind = append(body.Behind, n.Node)
				}
			}
			if len(body.Behind) > 0 || len(nodes) == 0 {
				body.Status = "pending"
			}
			return &clusterOutput{ETag: etag(rev), Body: body}, nil
		})
}
