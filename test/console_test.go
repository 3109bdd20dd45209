package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// browser starts a headless chromium for the test, at 1280×800, and
// returns its tab's context. The browser starts on a context without a
// timeout (its life is the test's); each step puts its own timeout on.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no chromium on this machine (.ci/run installs Debian's chromium): the console's browser tests need one")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("force-prefers-reduced-motion", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	start, cancelStart := context.WithTimeout(ctx, 20*time.Second)
	defer cancelStart()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium did not start: %v", err)
	}
	if err := chromedp.Do(start, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	// Uncaught errors of the page fail the test.
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// Refused requests (a wrong token, a bad form) are part of the
			// test; the network's log entries are left out, the security
			// ones (a Content-Security-Policy violation) are not.
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				t.Errorf("browser console: %s", m)
			}
		}
	}()
	return ctx
}

// page drives the console in a tab.
type page struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval runs a JavaScript expression in the page and returns its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds, and returns when it
// did. (chromedp's Poll builds its predicate with new Function, which the
// console's Content-Security-Policy rightly refuses.)
func (p *page) wait(what, cond string, within time.Duration) time.Time {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		now := time.Now()
		if err == nil && ok {
			return now
		}
		if now.After(deadline) {
			p.t.Fatalf("%s: not within %s (%s; err %v)", what, within, cond, err)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

func (p *page) screenshot(name string, sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	var b []byte
	var err error
	switch sel {
	case "":
		b, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	case "full":
		b, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	default:
		b, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	}
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// clear empties an input.
func (p *page) clear(sel string) {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	eval[bool](p, fmt.Sprintf("(e => (e.value = '', true))(document.querySelector(%s))", q))
}

// click clicks the first element sel selects, as a user would (mouse).
// A live page redraws what an event changes, so a node found may be gone
// by the time it is clicked: then it is found again.
func (p *page) click(sel string) {
	p.t.Helper()
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
		cancel()
		if err == nil {
			return
		}
		if try == 5 || !strings.Contains(err.Error(), "node") {
			p.t.Fatalf("click %s: %v", sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) goTo(hash, ready string) {
	p.t.Helper()
	p.do("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash)))
	p.wait("page "+hash, ready, 5*time.Second)
}

// confirm goes through an action's dialog: the dry run shown, a reason,
// confirmation, and the result shown; then closes it.
func (p *page) confirm(reason string) {
	p.t.Helper()
	p.wait("the dialog's dry run", `document.querySelector('#dialog[open] [data-dryrun="done"]')`, 5*time.Second)
	if reason != "" {
		p.do("reason", chromedp.SendKeys(chromedp.CSS("#dialog textarea[name=reason]"), reason))
	}
	p.click(`#dialog [data-action="confirm"]`)
	p.wait("the action's result", `document.querySelector('#dialog [data-result="ok"]')`, 5*time.Second)
	p.click(`#dialog [data-action="confirm"]`)
	p.wait("the dialog closed", `!document.querySelector('#dialog[open]')`, 5*time.Second)
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("GTM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConsole drives the web console in a real browser against a real
// CoreDNS with gtm, real probed backends and the control API with tokens:
// sign-in, the overview, a backend breaking (seen live, within a second
// of its event), a drain and a pin made from the console (seen in DNS), a
// form refused with the validator's message next to the field (nothing
// committed), and a viewer who sees no action.
func TestConsole(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	t.Logf("console screenshots in %s", dir)

	// Backends: main is 127.0.0.1 and 127.0.0.2, spare is 127.0.0.9, all on
	// one port that the monitor probes every 100ms.
	l1, port := testkit.ListenTCP(t, "127.0.0.1:0")
	l2, _ := testkit.ListenTCP(t, fmt.Sprintf("127.0.0.2:%d", port))
	testkit.ListenTCP(t, fmt.Sprintf("127.0.0.9:%d", port))
	relisten := func(addr string) {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	}

	tmp := t.TempDir()
	const admin, viewer = "ops-admin-secret-0123456789", "look-only-secret-0123456789"
	tokens := filepath.Join(tmp, "tokens")
	os.WriteFile(tokens, []byte("alice admin "+admin+"\nvic viewer "+viewer+"\n"), 0o600)
	apiPort := freePort(t)
	s := start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		api 127.0.0.1:%d {
			store %s
			token %s
		}
		monitor tcp-live {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
			rise 1
			fall 1
		}
		pool main {
			address 127.0.0.1 127.0.0.2
			monitor tcp-live
		}
		pool spare {
			address 127.0.0.9
			monitor tcp-live
		}
		instance www {
			ttl 30
			primary main
			secondary spare
		}
	}
}
`, apiPort, filepath.Join(tmp, "gtm.db"), tokens, port))
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	c := &client{t: t, base: base, token: admin}
	// An instance and a pool of the API's layer beside the Corefile's.
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "edge", "monitor": "tcp-live", "addresses": []map[string]any{{"address": "127.0.0.9", "weight": 5}}})
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "app.example.org", "ttl": 60,
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "edge"}}}}}})
	answers := func() []string { return testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)) }
	testkit.Eventually(t, "www on both main addresses", 3*time.Second, func() bool {
		return slices.Equal(answers(), []string{"127.0.0.1", "127.0.0.2"})
	})
	for range 20 { // traffic for the sparklines and the plot
		s.ask(t, "udp", "www.example.org.", dns.TypeA)
		s.ask(t, "udp", "app.example.org.", dns.TypeA)
	}
	history := func() int {
		var h []any
		json.Unmarshal(c.must(200, "GET", "/api/v1/history", nil), &h)
		return len(h)
	}

	p := &page{t: t, ctx: ctx, dir: dir}
	began := time.Now()

	// Sign in: / sends to the console, which asks for a token.
	p.do("open the console", chromedp.Navigate(base+"/"))
	p.wait("the sign-in form", `!document.getElementById('signin').hidden`, 5*time.Second)
	if loc := eval[string](p, "location.pathname"); loc != "/console/" {
		t.Errorf("/ led to %s, want /console/", loc)
	}
	p.do("sign in", chromedp.SendKeys(chromedp.ID("token"), "wrong-token-0000000000"), chromedp.Click(chromedp.CSS("#signin-form button")))
	p.wait("a wrong token refused", `document.getElementById('signin-error').textContent.includes('not valid')`, 5*time.Second)
	p.clear("#token")
	p.do("sign in", chromedp.SendKeys(chromedp.ID("token"), admin+"\r"))
	p.wait("the overview", `document.querySelectorAll('tr[data-instance]').length === 2`, 5*time.Second)
	if who := eval[string](p, "document.getElementById('whoami').textContent"); who != "alice admin" {
		t.Errorf("signed in as %q", who)
	}
	if got := eval[string](p, "sessionStorage.getItem('gtm-token')"); got != admin {
		t.Errorf("the token is not in session storage: %q", got)
	}
	if got := eval[int](p, "localStorage.length + document.cookie.length"); got != 0 {
		t.Errorf("the console stored %d things outside the session", got)
	}
	names := eval[[]string](p, `[...document.querySelectorAll('tr[data-instance]')].map(r => r.dataset.instance + ' ' + r.dataset.state)`)
	if !slices.Equal(names, []string{"app.example.org. healthy", "www.example.org. healthy"}) {
		t.Errorf("overview lists %v", names)
	}
	p.wait("the stream live", `document.getElementById('live').classList.contains('on')`, 5*time.Second)

	// Break 127.0.0.2: the overview shows www degraded, and the address
	// among those out of service, within a second of the event, with no
	// reload.
	eval[bool](p, "window.sameDocument = true")
	broke := time.Now()
	l2.Close()
	seen := p.wait("www degraded on the overview", `document.querySelector('tr[data-instance="www.example.org."]').dataset.state === 'degraded' &&
		document.querySelector('tr[data-address="127.0.0.2"][data-pool="main"]')`, 5*time.Second)
	if !eval[bool](p, "window.sameDocument === true") {
		t.Error("the page reloaded")
	}
	if first := eval[string](p, `document.querySelector('tr[data-instance]').dataset.instance`); first != "www.example.org." {
		t.Errorf("the degraded instance is not listed first: %s", first)
	}
	checkLag(t, c, "127.0.0.2", "unhealthy", broke, seen)
	p.screenshot("console-overview.png", "")

	// The instance page: the address red, the instance degraded; then the
	// whole primary fails and it goes to its secondary, live.
	p.goTo("#/instances/www.example.org.", `document.querySelector('tr[data-address="127.0.0.2"]')`)
	if tone := eval[string](p, `document.querySelector('tr[data-pool="main"][data-address="127.0.0.2"]').dataset.tone`); tone != "bad" {
		t.Errorf("127.0.0.2's row is %s, want bad (red)", tone)
	}
	if col := eval[string](p, `getComputedStyle(document.querySelector('tr[data-address="127.0.0.2"] .badge')).color`); col != "rgb(207, 34, 46)" && col != "rgb(248, 81, 73)" {
		t.Errorf("127.0.0.2's badge is %s, not red", col)
	}
	p.wait("the probe error shown", `document.querySelector('tr[data-address="127.0.0.2"] .err')`, 2*time.Second)
	broke = time.Now()
	l1.Close()
	seen = p.wait("www on its secondary", `document.querySelector('h1 [data-state]').dataset.state === 'secondary' &&
		document.querySelector('tr[data-pool="main"][data-address="127.0.0.1"]').dataset.tone === 'bad' &&
		document.querySelector('.timeline li[data-kind="switchover"]')`, 5*time.Second)
	checkLag(t, c, "127.0.0.1", "unhealthy", broke, seen)
	testkit.Eventually(t, "www answered from spare", 2*time.Second, func() bool { return slices.Equal(answers(), []string{"127.0.0.9"}) })
	p.screenshot("console-instance.png", "full")
	p.screenshot("console-failover-timeline.png", `section[aria-labelledby="tl-h"]`)

	// Both come back; the page follows.
	relisten("127.0.0.1")
	relisten("127.0.0.2")
	p.wait("www back on its primary", `document.querySelector('h1 [data-state]').dataset.state === 'healthy'`, 5*time.Second)

	// Drain 127.0.0.2 from the console: it leaves the answers.
	p.click(`button[data-action="drain"][aria-label="drain 127.0.0.2 in main"]`)
	p.wait("the dry run names the change", `document.querySelector('#dialog .effects code') && document.querySelector('#dialog .effects').textContent.includes('primary: 127.0.0.1 127.0.0.2')`, 5*time.Second)
	p.confirm("disk swap")
	testkit.Eventually(t, "127.0.0.2 drained from the answers", 2*time.Second, func() bool { return slices.Equal(answers(), []string{"127.0.0.1"}) })
	p.wait("the drain shown with its reason", `document.querySelector('tr[data-address="127.0.0.2"]').textContent.includes('drain by alice') &&
		document.querySelector('tr[data-address="127.0.0.2"]').textContent.includes('disk swap')`, 3*time.Second)

	// The explain box: a client's decision, with the drain that bears on it.
	p.do("explain", chromedp.SendKeys(chromedp.ID("explain-client"), "198.51.100.7\r"))
	p.wait("the explanation shown", `document.querySelector('.explain-out') &&
		document.querySelector('.explain-out').textContent.includes('Answer: 127.0.0.1') &&
		document.querySelector('.explain-out').textContent.includes('main/127.0.0.2 drain by alice (disk swap)') &&
		document.querySelector('.explain-out pre.lines').textContent.includes('instance www.example.org.')`, 3*time.Second)

	// Pin www to its secondary, then remove the pin.
	p.click("#pin-inst-secondary")
	p.confirm("network work at site main")
	testkit.Eventually(t, "www pinned to spare", 2*time.Second, func() bool { return slices.Equal(answers(), []string{"127.0.0.9"}) })
	p.wait("the pin shown", `document.querySelector('section.rule[data-state="secondary"] .pin') && document.querySelector('#unpin-inst')`, 3*time.Second)
	p.click("#unpin-inst")
	p.confirm("")
	testkit.Eventually(t, "www unpinned", 2*time.Second, func() bool { return slices.Equal(answers(), []string{"127.0.0.1"}) })

	// A form with a bad value: the validator's message next to the field,
	// nothing committed.
	revs := history()
	p.goTo("#/edit/pools/edge", `document.querySelector('[data-path="addresses[0].weight"]')`)
	p.clear(`[data-path="addresses[0].weight"]`)
	p.do("a weight out of range", chromedp.SendKeys(chromedp.CSS(`[data-path="addresses[0].weight"]`), "1000"))
	p.click(`button[data-action="save"]`)
	p.wait("the validator's message by the weight", `document.querySelector('[data-path="addresses[0].weight"]').getAttribute('aria-invalid') === 'true' &&
		document.querySelector('[data-path="addresses[0].weight"]').closest('.field').querySelector('.field-error').textContent.includes('out of range (1 to 100)')`, 5*time.Second)
	p.screenshot("console-edit-refused.png", "full")
	if got := history(); got != revs {
		t.Errorf("the refused form committed: history %d -> %d", revs, got)
	}
	if out := string(c.must(200, "GET", "/api/v1/pools/edge", nil)); !strings.Contains(out, `"weight":5`) {
		t.Errorf("the refused form changed the pool: %s", out)
	}
	// A Corefile pool is read-only, with its line.
	p.goTo("#/edit/pools/main", `document.querySelector('[data-owner="corefile"]')`)
	if !eval[bool](p, `document.querySelector('fieldset.formbody').disabled && !document.querySelector('[data-action="save"]') && document.querySelector('[data-owner="corefile"]').textContent.includes('line')`) {
		t.Error("the Corefile's pool is not shown read-only with its line")
	}

	// History: a rollback shows what it would change before confirming.
	p.goTo("#/history", `document.querySelectorAll('tr[data-revision]').length >= 4`)
	p.click(`tr[data-revision="2"] button[data-action="rollback"]`)
	p.wait("the rollback's diff", `document.querySelector('#dialog .diff') && document.querySelector('#dialog .diff').textContent.includes('main/127.0.0.2')`, 5*time.Second)
	p.screenshot("console-rollback-diff.png", "")
	p.click("#dialog button.ghost") // cancel
	p.wait("the dialog closed", `!document.querySelector('#dialog[open]')`, 2*time.Second)
	if got := history(); got != revs {
		t.Errorf("a cancelled rollback committed: history %d -> %d", revs, got)
	}

	// A viewer sees everything and no action.
	p.click("#signout")
	p.wait("signed out", `!document.getElementById('signin').hidden`, 3*time.Second)
	p.do("sign in as viewer", chromedp.SendKeys(chromedp.ID("token"), viewer+"\r"))
	p.wait("signed in as viewer", `document.getElementById('whoami').textContent === 'vic viewer'`, 5*time.Second)
	for _, pg := range []struct{ hash, ready string }{
		{"#/", `document.querySelectorAll('tr[data-instance]').length === 2`},
		{"#/instances/www.example.org.", `document.querySelector('tr[data-address="127.0.0.2"]')`},
		{"#/actions", `document.querySelector('#inforce-h')`},
		{"#/edit", `document.querySelector('#list-pools')`},
		{"#/edit/pools/edge", `document.querySelector('[data-path="addresses[0].weight"]')`},
		{"#/history", `document.querySelector('tr[data-revision]')`},
		{"#/events", `document.querySelector('tr[data-kind]')`},
	} {
		p.goTo(pg.hash, pg.ready)
		if n := eval[int](p, `document.querySelectorAll('[data-action]').length`); n != 0 {
			t.Errorf("the viewer sees %d action controls on %s: %v", n, pg.hash, eval[[]string](p, `[...document.querySelectorAll('[data-action]')].map(e => e.outerHTML.slice(0, 80))`))
		}
	}
	// A narrow window still shows the overview's states.
	p.do("a narrow window", chromedp.EmulateViewport(400, 800))
	p.goTo("#/", `document.querySelectorAll('tr[data-instance]').length === 2`)
	if w := eval[int](p, "document.documentElement.scrollWidth"); w > 400 {
		t.Errorf("at 400 px the overview is %d px wide", w)
	}
	p.screenshot("console-overview-narrow.png", "")
	t.Logf("browser steps took %s", time.Since(began).Round(time.Millisecond))
}

// checkLag finds the event of address's verdict becoming verdict after
// since in the API's log, and fails unless the page showed it (at seen)
// within a second of the event.
func checkLag(t *testing.T, c *client, address, verdict string, since, seen time.Time) {
	t.Helper()
	var ev time.Time
	testkit.Eventually(t, "the event of "+address+" in the log", 2*time.Second, func() bool {
		var evs []struct {
			Time time.Time
			New  string
		}
		json.Unmarshal(c.must(200, "GET", "/api/v1/events?kind=address&address="+address, nil), &evs)
		for _, e := range evs {
			if e.New == verdict && !e.Time.Before(since) {
				ev = e.Time
				return true
			}
		}
		return false
	})
	lag := seen.Sub(ev)
	t.Logf("%s %s: event at %s, on the page %s later", address, verdict, ev.Format("15:04:05.000"), lag.Round(time.Millisecond))
	if lag > time.Second {
		t.Errorf("%s %s: the page showed it %s after the event, want within 1s", address, verdict, lag)
	}
}
