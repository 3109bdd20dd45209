package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gtm-project/gtm/internal/etcdtest"
)

// TestConsoleCluster drives the console's Cluster page in chromium on a
// node of a two-node cluster (the other a CoreDNS process, resolution
// only): both nodes listed with their vantage and revision, in sync; etcd
// stopped, the page and the overview say the store is unreachable and,
// past the grace, that the node answers from its own probes; etcd back,
// all clear again.
func TestConsoleCluster(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	etcd := etcdtest.Start(t)
	tmp := t.TempDir()
	const admin = "cluster-admin-secret-0123456789"
	tokens := filepath.Join(tmp, "tokens")
	os.WriteFile(tokens, []byte("alice admin "+admin+"\n"), 0o600)
	apiPort := freePort(t)
	start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		pool main {
			address 127.0.0.1
		}
		instance www {
			primary main
		}
		api 127.0.0.1:%d {
			token %s
			node console-1
			vantage fra EU DE
			grace 2s
			store etcd %s {
				prefix /gtm-console/
				dial-timeout 3s
			}
		}
	}
}
`, apiPort, tokens, etcd.Endpoint))
	// The second node, a process of its own.
	bin := buildCoreDNS(t, tmp)
	n2 := &killProc{
		t: t, bin: bin,
		dnsAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		apiBase:  fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		readyURL: fmt.Sprintf("http://127.0.0.1:%d/ready", freePort(t)),
		conf:     filepath.Join(tmp, "Corefile.2"),
		logPath:  filepath.Join(tmp, "coredns.2.log"),
	}
	conf := clusterCorefile(n2, etcd.Endpoint, "console-2")
	conf = strings.Replace(conf, "prefix /gtm-test/", "prefix /gtm-console/", 1)
	conf = strings.Replace(conf, "node console-2", "node console-2\n\t\t\tprobe off\n\t\t\tvantage iad NA US", 1)
	if err := os.WriteFile(n2.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n2.start()
	t.Cleanup(n2.kill)

	p := &page{t: t, ctx: ctx, dir: dir}
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	p.do("open the console", chromedp.Navigate(base+"/console/"))
	p.wait("the sign-in form", `!document.getElementById('signin').hidden`, 5*time.Second)
	p.do("sign in", chromedp.SendKeys(chromedp.ID("token"), admin+"\r"))
	p.wait("the overview", `document.querySelectorAll('tr[data-instance]').length === 1`, 5*time.Second)
	if eval[bool](p, `!!document.querySelector('[data-banner]')`) {
		t.Error("the overview shows a store banner with etcd up")
	}
	p.click(`#nav a[data-page="cluster"]`)
	p.wait("both nodes listed, in sync", `document.querySelectorAll('tr[data-node]').length === 2 && document.querySelector('[data-insync="insync"]')`, 5*time.Second)
	rows := eval[string](p, `[...document.querySelectorAll('tr[data-node]')].map(r => r.textContent).join(' | ')`)
	for _, want := range []string{"console-1 (this node)", "fra · EU · DE", "console-2", "iad · NA · US"} {
		if !strings.Contains(rows, want) {
			t.Errorf("the nodes' rows %q lack %q", rows, want)
		}
	}
	self := eval[string](p, `document.querySelector('#cl-self').parentElement.textContent`)
	for _, want := range []string{"This node: console-1", "50% of the live nodes", "the cluster's", "Records events"} {
		if !strings.Contains(self, want) {
			t.Errorf("this node's panel %q lacks %q", self, want)
		}
	}
	p.wait("the store reachable", `document.querySelector('[data-reach="yes"]')`, 3*time.Second)
	p.screenshot("console-cluster.png", "main")

	// etcd gone: unreachable at once, own probes past the grace (2 s).
	etcd.Stop()
	p.wait("the store unreachable", `document.querySelector('[data-reach="no"]')`, 8*time.Second)
	p.wait("the fallback said", `document.querySelector('[data-fallback="yes"]') && document.querySelector('[data-verdicts="own"]')`, 10*time.Second)
	// In the incident the page keeps the nodes last read, says since when,
	// and no longer claims this node records the cluster's events.
	p.wait("the nodes as last read", `document.querySelector('[data-stale="yes"]') && document.querySelectorAll('tr[data-node]').length === 2`, 5*time.Second)
	if self := eval[string](p, `document.querySelector('#cl-self').parentElement.textContent`); !strings.Contains(self, "Records eventsno") {
		t.Errorf("cut off, this node's panel still says it records events: %q", self)
	}
	if reach := eval[string](p, `document.querySelector('#cl-store').parentElement.textContent`); !strings.Contains(reach, "no answer within 1s") {
		t.Errorf("the store panel does not say etcd gave no answer: %q", reach)
	}
	if page := eval[string](p, `document.querySelector('main').textContent`); strings.Contains(page, "deadline exceeded") {
		t.Errorf("the page shows Go's error text instead of saying etcd gave no answer: %q", page)
	}
	p.screenshot("console-cluster-cut.png", "main")
	p.goTo("#/", `document.querySelectorAll('tr[data-instance]').length === 1`)
	p.wait("the overview's banner", `document.querySelector('[data-banner="store"]') && document.querySelector('[data-banner="store"]').textContent.includes('Cut off from etcd')`, 5*time.Second)
	p.screenshot("console-overview-cut.png", "main")

	// Back: all clear.
	etcd.Restart(t)
	p.goTo("#/cluster", `document.querySelector('#cl-nodes')`)
	p.wait("back on the cluster's verdicts", `document.querySelector('[data-reach="yes"]') && document.querySelector('[data-verdicts="cluster"]') && !document.querySelector('[data-fallback]') && document.querySelectorAll('tr[data-node]').length === 2`, 15*time.Second)
}
