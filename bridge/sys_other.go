//go:build !linux

package bridge

import (
	"errors"
	"os"
)

// npshm maps segments on Linux only for now; macOS needs shm_open through
// cgo (its names are limited to 30 bytes) and is not built yet.

var errUnsupported = errors.ErrUnsupported

func reserve(*os.File, int64) error                 { return errUnsupported }
func populate(*os.File, []byte) error               { return errUnsupported }
func populateRange([]byte) error                    { return errUnsupported }
func mapFile(*os.File, int64, Mode) ([]byte, error) { return nil, errUnsupported }
func unmap([]byte) error                            { return nil }
func isNoSpace(error) bool                          { return false }
func lockShared(*os.File) error                     { return errUnsupported }
func tryLockExclusive(*os.File) (bool, error)       { return false, errUnsupported }
func sameFile(*os.File, string) bool                { return false }
func openFile(string, int, bool) (*os.File, error)  { return nil, errUnsupported }
func statOf(*os.File) (fileState, error)            { return fileState{}, errUnsupported }
func lstatState(string) (fileState, error)          { return fileState{}, errUnsupported }
func sealedAgainstShrink(*os.File) bool             { return false }
func setXattr(*os.File, string, string) error       { return nil }
func getXattr(string, string) (string, error)       { return "", nil }
func renameNoReplace(string, string) error          { return errUnsupported }
func removeFile(string) error                       { return errUnsupported }
func memfd(string) (*os.File, error)                { return nil, errUnsupported }
func sealSize(*os.File) error                       { return errUnsupported }
func rightsFor(*os.File) []byte                     { return nil }
func fdFrom([]byte) (*os.File, error)               { return nil, errUnsupported }
func inodeOf(os.FileInfo) uint64                    { return 0 }
func dirSpace(string) (int64, bool, error)          { return 0, false, errUnsupported }
func freeMemory() int64                             { return 0 }
