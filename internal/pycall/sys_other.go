//go:build !linux

package pycall

import (
	"errors"
	"net"
	"os"
	"syscall"
)

var errUnsupported = errors.New("calling Python: not supported on this OS (needs Linux memfd and SCM_RIGHTS)")

func SocketPair() (*net.UnixConn, *os.File, error) { return nil, nil, errUnsupported }

func ProcAttr() *syscall.SysProcAttr { return nil }
