package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

// TestReadmeDNSSEC runs the README's DNSSEC example as a reader would:
// dnssec-keygen makes the keys, the Corefile (with their names) starts,
// dnssec-dsfromkey gives the DS, delv validates with it; then the example
// of a zone shared with file, with the same keys.
func TestReadmeDNSSEC(t *testing.T) {
	needBinary(t, "dnssec-keygen", "bind9utils")
	needBinary(t, "dnssec-dsfromkey", "bind9utils")
	needBinary(t, "delv", "bind9-dnsutils")
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := readmeSection(t, string(b), "## DNSSEC")
	sh, corefiles := blocks(sec, "sh"), blocks(sec, "corefile")
	if len(sh) != 2 || len(corefiles) != 2 {
		t.Fatalf("the DNSSEC section has %d sh and %d corefile blocks, want 2 and 2", len(sh), len(corefiles))
	}
	dir := t.TempDir()
	run := func(cmd string) string {
		t.Helper()
		c := exec.Command("bash", "-c", cmd)
		c.Dir = dir
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	// The example's key names, in the order the commands make them.
	names := []string{"Kexample.org.+013+31553", "Kexample.org.+013+04562"}
	var keys []string
	for _, cmd := range lines(sh[0]) {
		keys = append(keys, strings.TrimSpace(run(cmd)))
	}
	if len(keys) != 2 {
		t.Fatalf("the key commands made %d keys, want 2", len(keys))
	}
	withKeys := func(s string) string {
		for i, n := range names {
			s = strings.ReplaceAll(s, n, filepath.Join(dir, keys[i]))
		}
		return s
	}
	port := dnsserver.Port
	dnsserver.Port = "0"
	t.Cleanup(func() { dnsserver.Port = port })
	loopback := func(ex string) string {
		first, rest, _ := strings.Cut(ex, "\n")
		return first + "\n    bind 127.0.0.1\n" + rest
	}
	s := start(t, loopback(withKeys(corefiles[0])))
	_, dnsPort, _ := net.SplitHostPort(s.udp)
	var out []string
	for _, cmd := range lines(sh[1]) {
		cmd = strings.ReplaceAll(withKeys(cmd), "delv @127.0.0.1 ", "delv @127.0.0.1 -p "+dnsPort+" ")
		out = append(out, run(cmd))
	}
	if !strings.Contains(out[0], "IN DS ") {
		t.Errorf("dnssec-dsfromkey printed %q, want a DS record", out[0])
	}
	if last := out[len(out)-1]; !strings.Contains(last, "; fully validated") || !strings.Contains(last, "www.example.org.") {
		t.Errorf("delv said:\n%s", last)
	}

	// The shared zone: file's half from a zone file beside the keys.
	if err := os.WriteFile(filepath.Join(dir, "db.example.org"), []byte(sharedZone), 0o644); err != nil {
		t.Fatal(err)
	}
	ex := strings.ReplaceAll(withKeys(corefiles[1]), "file db.example.org", "file "+filepath.Join(dir, "db.example.org"))
	shared := start(t, loopback(ex))
	_, sharedPort := splitPort(shared.udp)
	for _, q := range []string{"www.example.org A", "mail.example.org A", "www.example.org TXT", "nope.example.org A"} {
		got := run(fmt.Sprintf("delv @127.0.0.1 -p %s -a anchors.conf +root=example.org %s || true", sharedPort, q))
		if !strings.Contains(got, "fully validated") {
			t.Errorf("shared zone: delv %s said:\n%s", q, got)
		}
	}
}

func lines(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func splitPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}
