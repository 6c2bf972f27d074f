package namespace

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestCurrent(t *testing.T) {
	def := Dir
	if runtime.GOOS == "darwin" {
		def = ShmOpen
	}
	for env, want := range map[string]Backend{"": def, "dir": Dir, "shm_open": ShmOpen} {
		t.Setenv(BackendEnv, env)
		if b, err := Current(); b != want || err != nil {
			t.Errorf("NPSHM_BACKEND=%q: %q %v, want %q", env, b, err, want)
		}
	}
	for _, bad := range []string{"DIR", "shm", "shm_open ", "posix"} {
		t.Setenv(BackendEnv, bad)
		_, err := Current()
		if !errors.Is(err, ErrUnknownBackend) || !strings.Contains(err.Error(), BackendEnv) || !strings.Contains(err.Error(), `"shm_open"`) {
			t.Errorf("NPSHM_BACKEND=%q: %v, want ErrUnknownBackend naming the variable and the values", bad, err)
		}
	}
}

func TestMapSize(t *testing.T) {
	if got := ShmOpen.MapSize(1); got <= 1 || got%4096 != 0 {
		t.Errorf("shm_open MapSize(1) = %d, want a page", got)
	}
	if got := Dir.MapSize(1); got != 1 {
		t.Errorf("dir MapSize(1) = %d", got)
	}
}
