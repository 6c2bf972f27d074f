package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/npshm/npshm/internal/namespace"
)

// DefaultDir is where POSIX shared memory lives on Linux: shm_open("/NAME")
// is open("/dev/shm/NAME"), so Python's SharedMemory(name) and ours meet there.
const DefaultDir = namespace.DefaultDir

// DirEnv names the environment variable that moves segments to another
// directory (a size-limited tmpfs, a disk for arrays bigger than RAM).
// Segments there are not visible to Python's SharedMemory, only to npshm
// and np.load(path, mmap_mode=...).
const DirEnv = namespace.DirEnv

// BackendEnv names the environment variable that chooses how segments are
// named: "dir" (files in Dir(); the default on Linux) or "shm_open" (POSIX
// shm_open, as on macOS, its default; on Linux it keeps macOS's limits so
// they can be tested there). Any other value makes every call that names a
// segment fail with an error naming the variable. See the package doc.
const BackendEnv = namespace.BackendEnv

// Dir is the directory segments are created in and opened from: $NPSHM_DIR
// if set, else /dev/shm.
func Dir() string { return namespace.DirPath() }

// backend is the namespace $NPSHM_BACKEND chooses.
func backend() (namespace.Backend, error) { return namespace.Current() }

// CleanName validates a segment name as Python's SharedMemory would take it
// and returns it without its optional leading slash. Names are at most 255
// bytes, or with the shm_open backend 30 (31 with the slash shm_open is
// given: macOS's PSHMNAMLEN), which auto names ("psm_" + 8 hex digits)
// respect.
func CleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	b, _ := backend()
	switch {
	case n == "":
		return "", fmt.Errorf("%w %q: empty", ErrInvalidName, name)
	case b == namespace.ShmOpen && len(n) > namespace.MaxShmName:
		return "", fmt.Errorf("%w %q: longer than %d bytes (%d with the leading slash, macOS's limit; %s=%s)",
			ErrInvalidName, name, namespace.MaxShmName, namespace.MaxShmName+1, BackendEnv, b)
	case len(n) > b.MaxNameLen():
		return "", fmt.Errorf("%w %q: longer than %d bytes", ErrInvalidName, name, b.MaxNameLen())
	case strings.ContainsAny(n, "/\x00"):
		return "", fmt.Errorf("%w %q: contains '/' or NUL", ErrInvalidName, name)
	case strings.Contains(n, "..") || n == ".":
		return "", fmt.Errorf("%w %q: contains '..'", ErrInvalidName, name)
	}
	return n, nil
}

// NewName returns a fresh name as Python's SharedMemory makes them:
// "psm_" and 8 random hex digits.
func NewName() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on Linux >= 3.17
	}
	return "psm_" + hex.EncodeToString(b[:])
}

// segmentPath is the file behind a validated name in the dir backend.
func segmentPath(name string) string { return filepath.Join(Dir(), name) }

// checkNewName checks a name a caller chose for a new or published segment
// ("" means a fresh name): valid, and not one of npshm's temporaries
// (tempPrefix), which gc removes once the process in their name is gone.
func checkNewName(name string) error {
	if name == "" {
		return nil
	}
	clean, err := CleanName(name)
	if err != nil {
		return err
	}
	if strings.HasPrefix(clean, namespace.TempPrefix) {
		return fmt.Errorf("%w %q: names beginning with %q are reserved for npshm's temporaries", ErrInvalidName, name, namespace.TempPrefix)
	}
	return nil
}

// checkDir reports a missing segment directory (wrapping os.ErrNotExist),
// naming where it came from, so that a mistyped NPSHM_DIR does not read as
// "no such segment". nil if dir exists, or is not the segment directory.
func checkDir(dir string) error {
	if dir != Dir() {
		return nil
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return dirMissing{dir}
}

// dirMissing is a missing segment directory; errors.Is(err, os.ErrNotExist) holds.
type dirMissing struct{ dir string }

func (e dirMissing) Error() string {
	if os.Getenv(DirEnv) != "" {
		return fmt.Sprintf("segment directory %s does not exist (set by %s)", e.dir, DirEnv)
	}
	return fmt.Sprintf("segment directory %s does not exist (no POSIX shared memory here; set %s to a directory)", e.dir, DirEnv)
}

func (e dirMissing) Is(target error) bool { return target == os.ErrNotExist }
