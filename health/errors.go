package health

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// A check keeps its last result, error and all, until the next probe: at
// 100,000 refused addresses, a new "tcp: connection refused" per probe per
// check is 200,000 long-lived objects for the collector to mark, all saying
// the same. The common causes (an errno, a failed system call, a timeout)
// are made once per distinct message and shared; they read, wrap and unwrap
// as the fmt.Errorf errors they stand for.

// causeErr is proto + ": " + err, as fmt.Errorf("%s: %w") makes it.
type causeErr struct {
	msg string
	err error
}

func (e *causeErr) Error() string { return e.msg }
func (e *causeErr) Unwrap() error { return e.err }

type causeKey struct {
	proto, syscall string // syscall: "" for a bare errno
	errno          syscall.Errno
}

// maxShared bounds each table: the causes are a few errnos and the monitors'
// timeouts, but a process reloaded with ever new timeouts must not grow.
const maxShared = 1024

var shared struct {
	sync.RWMutex
	causes   map[causeKey]error
	timeouts map[time.Duration]error
}

// wrapCause is fmt.Errorf(proto+": %w", err), shared when err is an errno
// or a system call's errno.
func wrapCause(proto string, err error) error {
	k := causeKey{proto: proto}
	switch e := err.(type) {
	case syscall.Errno:
		k.errno = e
	case *os.SyscallError:
		errno, ok := e.Err.(syscall.Errno)
		if !ok {
			return fmt.Errorf("%s: %w", proto, err)
		}
		k.syscall, k.errno = e.Syscall, errno
	default:
		return fmt.Errorf("%s: %w", proto, err)
	}
	shared.RLock()
	e := shared.causes[k]
	shared.RUnlock()
	if e != nil {
		return e
	}
	shared.Lock()
	defer shared.Unlock()
	if e := shared.causes[k]; e != nil {
		return e
	}
	if k.syscall != "" {
		err = os.NewSyscallError(k.syscall, k.errno)
	}
	e = &causeErr{msg: proto + ": " + err.Error(), err: err}
	if len(shared.causes) < maxShared {
		if shared.causes == nil {
			shared.causes = map[causeKey]error{}
		}
		shared.causes[k] = e
	}
	return e
}

// timeoutErr is fmt.Errorf("timeout after %s", d), one per duration.
func timeoutErr(d time.Duration) error {
	shared.RLock()
	e := shared.timeouts[d]
	shared.RUnlock()
	if e != nil {
		return e
	}
	shared.Lock()
	defer shared.Unlock()
	if e := shared.timeouts[d]; e != nil {
		return e
	}
	e = errors.New("timeout after " + d.String())
	if len(shared.timeouts) < maxShared {
		if shared.timeouts == nil {
			shared.timeouts = map[time.Duration]error{}
		}
		shared.timeouts[d] = e
	}
	return e
}
