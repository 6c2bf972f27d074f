//go:build !linux && !darwin

package osshm

import (
	"errors"
	"os"
)

// npshm maps shared memory on Linux and macOS only; elsewhere every call
// fails with an error wrapping errors.ErrUnsupported.

var errUnsupported = errors.ErrUnsupported

const (
	ShmSizeFixed     = false
	ShmDir           = ""
	RootPIDNamespace = 0
)

func Open(string, int, bool) (*os.File, error)      { return nil, errUnsupported }
func Stat(*os.File) (State, error)                  { return State{}, errUnsupported }
func Lstat(string) (State, error)                   { return State{}, errUnsupported }
func SameFile(*os.File, string) bool                { return false }
func RemoveFile(string) error                       { return errUnsupported }
func Map(*os.File, int64, bool) ([]byte, error)     { return nil, errUnsupported }
func Unmap([]byte) error                            { return nil }
func LockShared(*os.File) error                     { return errUnsupported }
func TryLockShared(*os.File) (bool, error)          { return false, errUnsupported }
func TryLockExclusive(*os.File) (bool, error)       { return false, errUnsupported }
func ExclusiveHolders(uint64) []int                 { return nil }
func Rights(*os.File) []byte                        { return nil }
func FileFromRights([]byte) (*os.File, error)       { return nil, errUnsupported }
func Truncated(int) bool                            { return false }
func Inode(os.FileInfo) uint64                      { return 0 }
func Reserve(*os.File, int64) error                 { return errUnsupported }
func IsNoSpace(error) bool                          { return false }
func PopulateRange([]byte) error                    { return errUnsupported }
func SealedAgainstShrink(*os.File) bool             { return false }
func SetXattr(*os.File, string, string) error       { return nil }
func GetXattr(string, string) (string, error)       { return "", nil }
func RenameNoReplace(string, string) error          { return errUnsupported }
func Memfd(string) (*os.File, error)                { return nil, errUnsupported }
func SealSize(*os.File) error                       { return errUnsupported }
func DirSpace(string) (int64, bool, error)          { return 0, false, errUnsupported }
func ShmOpen(string, int, uint32) (*os.File, error) { return nil, errUnsupported }
func ShmUnlink(string) error                        { return errUnsupported }
func NamespaceOf(string, string) uint64             { return 0 }
func RunsInNamespace(uint64, int, uint64) bool      { return true }
func MemoryShort(int64) (int64, string, bool)       { return 0, "", false }
func FlockHolders() map[uint64][]int                { return map[uint64][]int{} }
func ProcessStart(string) (uint64, bool, error)     { return 0, false, errUnsupported }
