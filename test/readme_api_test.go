package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

// apiSection returns the README's "## API" section.
func apiSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	a := strings.Index(s, "\n## API\n")
	if a < 0 {
		t.Fatal("README.md has no '## API' section")
	}
	s = s[a+1:]
	if e := strings.Index(s[3:], "\n## "); e >= 0 {
		s = s[:e+4]
	}
	return s
}

// blocks returns the bodies of the section's ~~~ KIND blocks.
func blocks(section, kind string) []string {
	var out []string
	var cur strings.Builder
	open := false
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !open && strings.TrimSpace(line) == "~~~ "+kind:
			open = true
			cur.Reset()
		case open && strings.TrimSpace(line) == "~~~":
			open = false
			out = append(out, cur.String())
		case open:
			cur.WriteString(line + "\n")
		}
	}
	return out
}

var (
	storeLine     = regexp.MustCompile(`store \S+`)
	tokenLine     = regexp.MustCompile(`token \S+`)
	exampleSecret = regexp.MustCompile("`ci admin (\\S+)`")
)

// apiExample makes an example's api block run here: its store and token
// file in a temporary directory (the token file holding tokens), its
// address on apiPort.
func apiExample(t *testing.T, ex string, apiPort int, tokens string) string {
	dir := t.TempDir()
	tf := filepath.Join(dir, "tokens")
	os.WriteFile(tf, []byte(tokens+"\n"), 0o600)
	ex = storeLine.ReplaceAllString(ex, "store "+filepath.Join(dir, "gtm.db"))
	ex = tokenLine.ReplaceAllString(ex, "token "+tf)
	return strings.Replace(ex, "127.0.0.1:8053", fmt.Sprintf("127.0.0.1:%d", apiPort), 1)
}

// TestReadmeAPI starts the README's API example and runs its curl commands
// in order, as a reader would, against it.
func TestReadmeAPI(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (.ci/run installs it)")
	}
	sec := apiSection(t)
	corefiles := blocks(sec, "corefile")
	if len(corefiles) != 1 {
		t.Fatalf("the API section has %d corefile examples, want 1", len(corefiles))
	}
	m := exampleSecret.FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("the API section shows no token line 'ci admin SECRET'")
	}
	apiPort := freePort(t)
	ex := apiExample(t, toLoopback.Replace(corefiles[0]), apiPort, "ci admin "+m[1])
	port := dnsserver.Port
	dnsserver.Port = "0"
	t.Cleanup(func() { dnsserver.Port = port })
	s := start(t, ex)
	_, dnsPort, _ := net.SplitHostPort(s.udp)

	var out []string
	for _, b := range blocks(sec, "sh") {
		for _, cmd := range strings.Split(strings.ReplaceAll(b, "\\\n", " "), "\n") {
			if strings.TrimSpace(cmd) == "" {
				continue
			}
			cmd = toLoopback.Replace(cmd)
			cmd = strings.ReplaceAll(cmd, "127.0.0.1:8053", fmt.Sprintf("127.0.0.1:%d", apiPort))
			cmd = strings.ReplaceAll(cmd, "dig @127.0.0.1 ", "dig @127.0.0.1 -p "+dnsPort+" ")
			c := exec.Command("bash", "-c", cmd)
			c.Env = append(os.Environ(), "TOKEN="+m[1])
			got, err := c.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, got)
			}
			out = append(out, string(got))
		}
	}
	if last := strings.TrimSpace(out[len(out)-1]); last != "412" {
		t.Errorf("the stale If-Match example printed %q, want 412", last)
	}
	if !strings.Contains(out[4], `"dry-run":true`) || !strings.Contains(out[4], "127.0.2.11") {
		t.Errorf("the dry run said: %s", out[4])
	}
	// The state the examples leave: the drain in force, no pin, and the
	// rollback last in history.
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort), token: m[1]}
	var ovr struct {
		Addresses []struct{ Address, Mode, Who string }
		Pins      []any
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/overrides", nil), &ovr)
	if len(ovr.Addresses) != 1 || ovr.Addresses[0].Address != "127.0.2.11" || ovr.Addresses[0].Who != "ci" || len(ovr.Pins) != 0 {
		t.Errorf("overrides after the examples: %+v", ovr)
	}
	var hist []struct {
		Revision uint64
		Change   string
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/history", nil), &hist)
	if len(hist) != 6 || !strings.HasPrefix(hist[0].Change, "rollback to revision 4") {
		t.Errorf("history after the examples: %+v", hist)
	}
}
