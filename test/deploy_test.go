package test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// The tests of this file build and run what README's "## Deploy" section
// says, with its commands as written (names and ports made unique). They
// take minutes and root podman, so they run when GTM_DEPLOY_TEST=1, as
// .ci/run sets it.
const deployEnv = "GTM_DEPLOY_TEST"

func needDeploy(t *testing.T) {
	t.Helper()
	if os.Getenv(deployEnv) != "1" {
		t.Skipf("set %s=1 to build the image and binaries and run README's Deploy commands (.ci/run does)", deployEnv)
	}
}

// readmeSection returns the README section that starts with the heading
// line title ("## Deploy", "### systemd") and ends before the next heading
// of its level or above.
func readmeSection(t *testing.T, text, title string) string {
	t.Helper()
	a := strings.Index(text, "\n"+title+"\n")
	if a < 0 {
		t.Fatalf("README.md has no %q section", title)
	}
	s := text[a+1:]
	level := strings.Index(title, " ")
	for i := len(title); i < len(s); {
		j := strings.Index(s[i:], "\n#")
		if j < 0 {
			break
		}
		i += j + 1
		h := strings.Index(s[i:], " ")
		if h > 0 && h <= level && strings.Trim(s[i:i+h], "#") == "" {
			return s[:i]
		}
	}
	return s
}

func deploySubsection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return readmeSection(t, readmeSection(t, string(b), "## Deploy"), title)
}

// shCommands are a block's commands, continuation lines joined.
func shCommands(block string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// podmanHere makes podman usable on this machine from a test: a
// containers.conf for the Debian machines CI runs on (runc, cgroupfs, no
// default ulimits), unless CONTAINERS_CONF names one. None of it is the
// product's.
func podmanHere(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (.ci/run installs it): the image is not built or run")
	}
	if os.Getenv("CONTAINERS_CONF") == "" {
		conf := "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\n"
		if _, err := exec.LookPath("runc"); err == nil {
			conf += "runtime = \"runc\"\n"
		}
		p := filepath.Join(t.TempDir(), "containers.conf")
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("CONTAINERS_CONF", p)
	}
	if out, err := exec.Command("podman", "info").CombinedOutput(); err != nil {
		t.Skipf("podman cannot run containers here: %v\n%s", err, out)
	}
}

// shPrelude makes dig and curl wait for a container that is starting, as a
// reader would by trying again.
const shPrelude = `set -euo pipefail
dig() {
	local out
	for _ in $(seq 1 50); do
		if out=$(command dig +tries=1 +time=1 "$@") && [ -n "$out" ]; then printf '%s\n' "$out"; return 0; fi
		sleep 0.2
	done
	command dig +tries=1 +time=1 "$@"
}
curl() { command curl --retry 20 --retry-all-errors --retry-delay 1 "$@"; }
`

func runSh(t *testing.T, dir, script string) string {
	t.Helper()
	c := exec.Command("bash", "-c", shPrelude+script)
	c.Dir = dir
	out, err := c.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s\n%v\nstdout:\n%s\nstderr:\n%s", script, err, out, stderr)
	}
	return string(out)
}

func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("podman", args...).CombinedOutput()
	return string(out), err
}

// repoLinks makes dir look like the repository to README's commands
// (scripts/, deploy/), so that the files they write land in dir.
func repoLinks(t *testing.T, dir string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"scripts", "deploy"} {
		if err := os.Symlink(filepath.Join(root, d), filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
}

func askA(t *testing.T, port int, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil
	}
	return testkit.Values(r)
}

// TestDeployImage builds the image and runs README's container commands,
// then checks what they cannot show: the size, the user, the labels and
// version, the capability the binary needs, ping without root, metrics, and
// the store surviving the container.
func TestDeployImage(t *testing.T) {
	needDeploy(t)
	podmanHere(t)
	sec := deploySubsection(t, "### Container image")
	bs := blocks(sec, "sh")
	if len(bs) != 2 {
		t.Fatalf("the Container image section has %d sh blocks, want 2", len(bs))
	}
	id := strconv.Itoa(os.Getpid())
	name, vol, secret := "gtm-test-"+id, "gtm-state-test-"+id, "gtm-tokens-test-"+id
	dnsPort, apiPort := freePort(t), freePort(t)
	containerName := regexp.MustCompile(`(?m)(--name|rm -f|logs) gtm(\s|$)`)
	tokens := regexp.MustCompile(`\bgtm-tokens\b`)
	rewrite := func(s string) string {
		s = containerName.ReplaceAllString(s, "$1 "+name+"$2")
		s = strings.ReplaceAll(s, "gtm-state:", vol+":")
		s = tokens.ReplaceAllString(s, secret)
		s = strings.ReplaceAll(s, "127.0.0.1:1053:", fmt.Sprintf("127.0.0.1:%d:", dnsPort))
		s = strings.ReplaceAll(s, "-p 1053 ", fmt.Sprintf("-p %d ", dnsPort))
		s = strings.ReplaceAll(s, "127.0.0.1:8053:8053", fmt.Sprintf("127.0.0.1:%d:8053", apiPort))
		return strings.ReplaceAll(s, "http://127.0.0.1:8053", fmt.Sprintf("http://127.0.0.1:%d", apiPort))
	}
	dir := t.TempDir()
	repoLinks(t, dir)
	t.Cleanup(func() {
		podman(t, "rm", "--force", "--ignore", "--volumes", "--time", "0", name, name+"-ping", name+"-noping")
		podman(t, "volume", "rm", "--force", vol)
		podman(t, "secret", "rm", secret)
	})

	// The first block: build, run as Kubernetes will, ask over UDP and TCP.
	start := time.Now()
	out := runSh(t, dir, rewrite(bs[0]))
	t.Logf("README block 1 (image built and run) in %s", time.Since(start).Round(time.Second))
	if n := strings.Count(out, "192.0.2.10\n"); n != 2 {
		t.Errorf("dig over UDP and TCP answered 192.0.2.10 %d times, want 2:\n%s", n, out)
	}
	tag := regexp.MustCompile(`(?m)^localhost/gtm:(\S+)$`).FindStringSubmatch(out)
	if tag == nil {
		t.Fatalf("scripts/image.sh printed no localhost/gtm:VERSION tag:\n%s", out)
	}

	// What the image is.
	insp, err := podman(t, "image", "inspect", "localhost/gtm:"+tag[1], "--format",
		`{{.Size}} {{.Config.User}} {{index .Labels "org.opencontainers.image.version"}} {{index .Labels "org.opencontainers.image.revision"}} {{index .Labels "org.opencontainers.image.source"}}`)
	if err != nil {
		t.Fatal(insp)
	}
	f := strings.Fields(insp)
	if len(f) != 5 {
		t.Fatalf("image inspect: %q", insp)
	}
	size, _ := strconv.ParseFloat(f[0], 64)
	version, revision := f[2], f[3]
	t.Logf("image localhost/gtm:%s: %.1f MB, user %s, gtm %s, revision %s", tag[1], size/1e6, f[1], version, revision)
	if size >= 40e6 {
		t.Errorf("image is %.1f MB, want under 40 MB", size/1e6)
	}
	if f[1] != "65532:65532" || !strings.HasPrefix(version, "v") || len(revision) != 40 || f[4] != "https://github.com/gtm-project/gtm" {
		t.Errorf("image user %s, labels version %q revision %q source %q", f[1], version, revision, f[4])
	}
	if head, err := exec.Command("git", "-C", "..", "rev-parse", "HEAD").Output(); err == nil && strings.TrimSpace(string(head)) != revision {
		t.Errorf("image revision %s, HEAD is %s", revision, head)
	}
	// A build from a tree with uncommitted changes says so in its revision.
	stamped := revision
	if strings.HasSuffix(version, "+dirty") {
		stamped += "-dirty"
	}
	logs, _ := podman(t, "logs", name)
	if want := "plugin/gtm: gtm " + version + " (revision " + stamped + ", go"; !strings.Contains(logs, want) {
		t.Errorf("startup log has no %q:\n%s", want, logs)
	}
	v, err := podman(t, "run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "localhost/gtm", "-version")
	if err != nil || !strings.Contains(v, "CoreDNS-1.15.0+gtm-"+version+"\n") || !strings.Contains(v, ", "+stamped+"\n") {
		t.Errorf("-version: %v\n%s", err, v)
	}
	// The files: the binary's capability, the state directory the user's
	// and nothing else writable by it.
	if mnt, err := podman(t, "image", "mount", "localhost/gtm:"+tag[1]); err != nil {
		t.Errorf("podman image mount: %v\n%s", err, mnt)
	} else {
		mnt = strings.TrimSpace(mnt)
		defer podman(t, "image", "unmount", "localhost/gtm:"+tag[1])
		if out, err := exec.Command("getcap", filepath.Join(mnt, "coredns")).Output(); err != nil || !strings.Contains(string(out), "cap_net_bind_service=ep") {
			t.Errorf("getcap /coredns: %v %q", err, out)
		}
		for p, owner := range map[string]string{"/coredns": "0:0 755", "/var/lib": "0:0 755", "/var/lib/gtm": "65532:65532 755", "/etc/passwd": "0:0 644", "/etc/ssl/certs/ca-certificates.crt": "0:0 644"} {
			if out, err := exec.Command("stat", "-c", "%u:%g %a", filepath.Join(mnt, p)).Output(); err != nil || strings.TrimSpace(string(out)) != owner {
				t.Errorf("%s: %q (%v), want %s", p, out, err, owner)
			}
		}
	}
	// Without NET_BIND_SERVICE in the bounding set the binary cannot run.
	if out, err := podman(t, "run", "--rm", "--read-only", "--cap-drop", "ALL", "localhost/gtm"); err == nil || !strings.Contains(out, "operation not permitted") {
		t.Errorf("ran without NET_BIND_SERVICE: %v\n%s", err, out)
	}

	// Ping without root: with README's flags a ping monitor of the
	// container's loopback passes; without the sysctl it cannot.
	run := ""
	for _, c := range shCommands(bs[0]) {
		if strings.HasPrefix(c, "podman run ") {
			run = c
		}
	}
	if !strings.HasSuffix(run, " localhost/gtm") || !strings.Contains(run, "--sysctl net.ipv4.ping_group_range=") {
		t.Fatalf("README's podman run: %q", run)
	}
	pingCorefile := filepath.Join(dir, "Corefile.ping")
	os.WriteFile(pingCorefile, []byte(`ping.test:53 {
    gtm {
        ns ns1.ping.test 192.0.2.53
        monitor icmp {
            protocol ping
            interval 1s
            timeout 500ms
        }
        pool local {
            monitor icmp
            address 127.0.0.1
        }
        pool fallback {
            address 192.0.2.99
        }
        instance www {
            primary local
            secondary fallback
        }
    }
    ready :8181
    prometheus :9153
}
`), 0o644)
	pingRun := func(suffix string, sysctl bool) (dnsPort, readyPort, metricsPort int) {
		dnsPort, readyPort, metricsPort = freePort(t), freePort(t), freePort(t)
		c := strings.Replace(run, "--name gtm ", "--name "+name+suffix+" ", 1)
		c = strings.ReplaceAll(c, "-v gtm-state:/var/lib/gtm ", "")
		c = strings.ReplaceAll(c, "127.0.0.1:1053:", fmt.Sprintf("127.0.0.1:%d:", dnsPort))
		if !sysctl {
			c = regexp.MustCompile(`--sysctl net.ipv4.ping_group_range="[^"]*" `).ReplaceAllString(c, "")
		}
		c = strings.TrimSuffix(c, " localhost/gtm") + fmt.Sprintf(" -p 127.0.0.1:%d:8181 -p 127.0.0.1:%d:9153 -v %s:/etc/coredns/Corefile:ro localhost/gtm", readyPort, metricsPort, pingCorefile)
		runSh(t, dir, c)
		return
	}
	get := func(port int, path string) (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	dp, rp, mp := pingRun("-ping", true)
	testkit.Eventually(t, "the ping container is ready (every address probed)", 20*time.Second, func() bool { c, _ := get(rp, "/ready"); return c == 200 })
	if got := askA(t, dp, "www.ping.test."); len(got) != 1 || got[0] != "127.0.0.1" {
		logs, _ := podman(t, "logs", name+"-ping")
		t.Errorf("with ping_group_range: www.ping.test A %v, want 127.0.0.1 (ping passes)\n%s", got, logs)
	}
	_, metrics := get(mp, "/metrics")
	if !strings.Contains(metrics, `coredns_gtm_build_info{goversion="go`) ||
		!strings.Contains(metrics, fmt.Sprintf(`revision="%s",version="%s"} 1`, stamped, version)) {
		t.Errorf("no coredns_gtm_build_info for %s %s in the metrics", version, revision)
	}
	dp, rp, _ = pingRun("-noping", false)
	testkit.Eventually(t, "the no-ping container is ready", 20*time.Second, func() bool { c, _ := get(rp, "/ready"); return c == 200 })
	if got := askA(t, dp, "www.ping.test."); len(got) != 1 || got[0] != "192.0.2.99" {
		t.Errorf("without ping_group_range: www.ping.test A %v, want the fallback 192.0.2.99 (no ICMP socket)", got)
	}

	// The second block: the API off loopback with tokens, the Kubernetes
	// Corefile, the same volume.
	out = runSh(t, dir, rewrite(bs[1]))
	if !strings.Contains(out, `"name":"gtm.example.net."`) {
		t.Errorf("GET /api/v1/zones with the token:\n%s", out)
	}
	// The store lives on the volume: a pool created through the API is
	// there after the container is replaced.
	var again []string
	for _, c := range shCommands(bs[1]) {
		if strings.HasPrefix(c, "podman rm ") || strings.HasPrefix(c, "podman run ") || strings.HasPrefix(c, "TOKEN=") {
			again = append(again, c)
		}
	}
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/pools", apiPort)
	script := fmt.Sprintf(`TOKEN=$(cut -d' ' -f3 gtm-tokens)
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" --json '{"name": "kept", "addresses": [{"address": "192.0.2.77"}]}' %s
%s
curl -fsS -H "Authorization: Bearer $TOKEN" %s/kept
`, api, strings.Join(again, "\n"), api)
	out = runSh(t, dir, rewrite(script))
	if !strings.Contains(out, "192.0.2.77") {
		t.Errorf("the pool did not survive the container:\n%s", out)
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestDeployReproducible builds the binary twice from the same commit, in
// two checkouts at different paths, and compares the bytes. The second
// build shares the build cache, which catches what makes builds differ
// (paths without -trimpath miss the cache and land in the binary, stamps of
// time or place); with GTM_REPRO_COLD=1 it starts from an empty cache and
// compiles everything again, a few minutes on two cores.
func TestDeployReproducible(t *testing.T) {
	needDeploy(t)
	if out, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no").Output(); err != nil || len(out) > 0 {
		t.Skipf("the tree has uncommitted changes (or no git): builds of one commit are compared from a clean tree only\n%s", out)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if out, err := exec.Command("../scripts/image.sh", "--binary", a).CombinedOutput(); err != nil {
		t.Fatalf("build a: %v\n%s", err, out)
	}
	head, _ := exec.Command("git", "-C", "..", "rev-parse", "HEAD").Output()
	clone := filepath.Join(dir, "elsewhere", "gtm")
	if out, err := exec.Command("git", "clone", "-q", "..", clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", clone, "checkout", "-q", "--detach", strings.TrimSpace(string(head))).CombinedOutput(); err != nil {
		t.Fatalf("git checkout: %v\n%s", err, out)
	}
	c := exec.Command(filepath.Join(clone, "scripts/image.sh"), "--binary", b)
	cache := "the shared build cache"
	if os.Getenv("GTM_REPRO_COLD") == "1" {
		c.Env = append(os.Environ(), "GOCACHE="+filepath.Join(dir, "gocache"))
		cache = "an empty build cache"
	}
	start := time.Now()
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("build b: %v\n%s", err, out)
	}
	exec.Command("chmod", "-R", "u+w", filepath.Join(dir, "gocache")).Run()
	ha, hb := sha256File(t, a), sha256File(t, b)
	t.Logf("build a %s, build b (at %s, %s, %s) %s", ha, clone, cache, time.Since(start).Round(time.Second), hb)
	if ha != hb {
		t.Errorf("two builds of %s differ", head)
	}
}

// TestDeploySystemd runs README's systemd commands up to what needs a
// running systemd: the binary is built and installed into a directory
// standing for /, and the installed unit is verified and rated there.
// systemctl and journalctl are not run: this machine's systemd is not
// managing it, and a test must not install services on the host.
func TestDeploySystemd(t *testing.T) {
	needDeploy(t)
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	repoLinks(t, dir)
	root := filepath.Join(dir, "root")
	abs := regexp.MustCompile(`(\s)/(usr|etc)/`)
	for _, c := range shCommands(blocks(deploySubsection(t, "### systemd"), "sh")[0]) {
		switch {
		case strings.HasPrefix(c, "systemctl ") || strings.HasPrefix(c, "journalctl "):
			t.Logf("not run here: %s", c)
			continue
		case strings.HasPrefix(c, "systemd-analyze verify "):
			// The unit names /usr/local/bin/coredns: here it is under root.
			unit := filepath.Join(root, "etc/systemd/system/coredns-gtm.service")
			b, err := os.ReadFile(unit)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(unit, []byte(strings.Replace(string(b), "ExecStart=/usr/", "ExecStart="+root+"/usr/", 1)), 0o644)
		}
		out := runSh(t, dir, abs.ReplaceAllString(c, "$1"+root+"/$2/"))
		if strings.HasPrefix(c, "systemd-analyze security") {
			m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level:\n%s", out)
			}
			t.Logf("installed unit: exposure %s", m[1])
			if l, _ := strconv.ParseFloat(m[1], 64); l > 2.0 {
				t.Errorf("exposure %s, want 2.0 or lower", m[1])
			}
		}
	}
	v, err := exec.Command(filepath.Join(root, "usr/local/bin/coredns"), "-version").Output()
	if err != nil || !strings.Contains(string(v), "+gtm-v") {
		t.Errorf("installed coredns -version: %v\n%s", err, v)
	}
}
