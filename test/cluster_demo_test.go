package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterDemo runs scripts/cluster-demo.sh --check, the walkthrough the
// README's "Running a cluster" points a reader to, done by the script
// itself: 3 etcd members and 4 gtm nodes on loopback (one of them probe
// off), a change through node 1 answered by all four and reported in sync,
// an address down for 1 of 3 probing nodes kept, for 2 of 3 dropped
// everywhere (by the resolution-only node too), then restored. It keeps
// the script (and what the README says of it) true.
func TestClusterDemo(t *testing.T) {
	for _, c := range []string{"curl", "dig"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s is not installed (.ci/run installs it)", c)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "scripts/cluster-demo.sh") {
		t.Error("the README does not point to scripts/cluster-demo.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "scripts", "cluster-demo.sh"), "--check")
	// Its own process group: on a timeout the script is told to stop
	// (SIGTERM), and stops what it started by their ids.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "check: ok") {
		t.Fatalf("cluster-demo.sh --check: %v after %v\n%s", err, time.Since(began).Round(time.Second), out)
	}
	t.Logf("cluster-demo.sh --check passed in %v", time.Since(began).Round(time.Second))
}
