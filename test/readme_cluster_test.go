package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/etcdtest"
	"github.com/miekg/dns"
)

// TestReadmeClusterNode starts the Corefile of a node from the README's
// "Running a cluster" against a real etcd (its endpoints replaced, its
// addresses moved to loopback) and checks that it answers, and that its
// status says what the section says: etcd, its node name and vantage, the
// quorum, the cluster's votes read.
func TestReadmeClusterNode(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ex := blocks(string(b), "corefile-node")
	if len(ex) != 1 {
		t.Fatalf("README.md has %d corefile-node blocks, want 1", len(ex))
	}
	const eps = "http://10.0.0.1:2379 http://10.0.0.2:2379 http://10.0.0.3:2379"
	if !strings.Contains(ex[0], eps) {
		t.Fatalf("the node's Corefile no longer names %s", eps)
	}
	etcd := etcdtest.Start(t)
	apiPort := freePort(t)
	c := strings.Replace(toLoopback.Replace(ex[0]), eps, etcd.Endpoint, 1)
	c = strings.Replace(c, "127.0.0.1:8053", fmt.Sprintf("127.0.0.1:%d", apiPort), 1)
	s := start(t, c)
	if r := s.ask(t, "udp", "gtm.example.net.", dns.TypeSOA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("SOA: %v", r)
	}
	var st struct {
		Store struct {
			Kind    string
			Cluster struct {
				Node    string
				Vantage struct{ Region, Continent, Country string }
				Quorum  int
				Probe   bool
				Synced  bool
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/status", apiPort))
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		cl := st.Store.Cluster
		if err == nil && st.Store.Kind == "etcd" && cl.Synced && cl.Node == "fra-1" && cl.Quorum == 50 && cl.Probe &&
			cl.Vantage.Region == "eu-central" && cl.Vantage.Continent == "EU" && cl.Vantage.Country == "DE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's status: %+v (%v)", st.Store, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := s.ask(t, "udp", "www.gtm.example.net.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("www: %v", r)
	}
}
