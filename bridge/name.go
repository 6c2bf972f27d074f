package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is where POSIX shared memory lives on Linux: shm_open("/NAME")
// is open("/dev/shm/NAME"), so Python's SharedMemory(name) and ours meet there.
const DefaultDir = "/dev/shm"

// DirEnv names the environment variable that moves segments to another
// directory (a size-limited tmpfs, a disk for arrays bigger than RAM).
// Segments there are not visible to Python's SharedMemory, only to npshm
// and np.load(path, mmap_mode=...).
const DirEnv = "NPSHM_DIR"

// maxNameLen is NAME_MAX on Linux. macOS allows only 30 bytes (PSHMNAMLEN),
// which auto names ("psm_" + 8 hex digits) respect.
const maxNameLen = 255

// Dir is the directory segments are created in and opened from: $NPSHM_DIR
// if set (cleaned: "/mnt/shm/" is "/mnt/shm"), else /dev/shm.
func Dir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return filepath.Clean(d)
	}
	return DefaultDir
}

// CleanName validates a segment name as Python's SharedMemory would take it
// and returns it without its optional leading slash.
func CleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case n == "":
		return "", fmt.Errorf("%w %q: empty", ErrInvalidName, name)
	case len(n) > maxNameLen:
		return "", fmt.Errorf("%w %q: longer than %d bytes", ErrInvalidName, name, maxNameLen)
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

// segmentPath is the file behind a validated name.
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
	if strings.HasPrefix(clean, tempPrefix) {
		return fmt.Errorf("%w %q: names beginning with %q are reserved for npshm's temporaries", ErrInvalidName, name, tempPrefix)
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
