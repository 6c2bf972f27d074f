//go:build !linux

package pyworker

import (
	"errors"
	"net"
	"os"
	"syscall"
)

var errUnsupported = errors.New("pyworker: not supported on this OS (needs Linux memfd and SCM_RIGHTS)")

func socketPair() (*net.UnixConn, *os.File, error) { return nil, nil, errUnsupported }

func procAttr() *syscall.SysProcAttr { return nil }
