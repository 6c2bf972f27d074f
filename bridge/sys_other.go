//go:build !linux

package bridge

import (
	"errors"
	"os"
)

// npshm maps segments on Linux only for now; macOS needs shm_open through
// cgo (its names are limited to 30 bytes) and is not built yet.

func reserve(*os.File, int64) error                 { return errors.ErrUnsupported }
func mapFile(*os.File, int64, Mode) ([]byte, error) { return nil, errors.ErrUnsupported }
func unmap([]byte) error                            { return nil }
