package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// Shared errors read, wrap and compare as the fmt.Errorf ones they replace.
func TestSharedErrors(t *testing.T) {
	for _, tc := range []struct {
		proto string
		err   error
	}{
		{"tcp", syscall.ECONNREFUSED},
		{"tls", syscall.ECONNRESET},
		{"tcp", os.NewSyscallError("socket", syscall.EMFILE)},
		{"tcp", context.Canceled},
	} {
		got, want := wrapCause(tc.proto, tc.err), errorsFmt(tc.proto, tc.err)
		if got.Error() != want.Error() {
			t.Errorf("%q, want %q", got, want)
		}
		if !errors.Is(got, tc.err) && !errors.Is(got, errors.Unwrap(tc.err)) {
			t.Errorf("%q does not wrap %v", got, tc.err)
		}
		var se *os.SyscallError
		if errors.As(tc.err, &se) != errors.As(got, &se) {
			t.Errorf("%q: errors.As differs", got)
		}
	}
	if a, b := wrapCause("tcp", syscall.ECONNREFUSED), wrapCause("tcp", syscall.ECONNREFUSED); a != b {
		t.Error("the same cause made twice")
	}
	if a, b := timeoutErr(2*time.Second), timeoutErr(2*time.Second); a != b || a.Error() != "timeout after 2s" {
		t.Errorf("timeout: %q, %q", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { _ = wrapCause("tcp", syscall.ECONNREFUSED) }); n != 0 {
		t.Errorf("%v allocations per refused probe's error", n)
	}
}

func errorsFmt(proto string, err error) error { return fmt.Errorf("%s: %w", proto, err) }
