//go:build linux

package pycall

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// SocketPair returns the two ends of a SOCK_SEQPACKET Unix socket: ours as
// a conn, the worker's as a file to hand it (close-on-exec, so only the
// worker it is given to inherits it).
func SocketPair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "pycall")
	defer ours.Close() // FileConn dups it
	theirs := os.NewFile(uintptr(fds[1]), "pycall-peer")
	c, err := net.FileConn(ours)
	if err != nil {
		theirs.Close()
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return c.(*net.UnixConn), theirs, nil
}

// ProcAttr puts a worker in its own process group, so a Ctrl-C at the
// terminal reaches the Go program, which decides when workers stop.
func ProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
