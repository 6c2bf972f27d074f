// Package tests holds npshm's cross-language tests: Go creates segments and
// real Python processes with real numpy read them, and the other way round.
package tests

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npshm/npshm/internal/shmtest"
)

func TestMain(m *testing.M) {
	code := shmtest.Main(m)
	if cliBin != "" {
		os.Remove(cliBin)
	}
	os.Exit(code)
}

// python is the interpreter to test against (see shmtest.Python).
func python(t testing.TB) string { return shmtest.Python(t) }

// runPy runs testdata/xlang.py with args and returns stdout; stderr must be empty.
func runPy(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python(t), append([]string{"testdata/xlang.py"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("python %v: %v", args, err)
	}
	shmtest.Track(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python %v: %v\n%s", args, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("python %v wrote to stderr:\n%s", args, stderr.String())
	}
	return stdout.String()
}

// pyProc is a long-running Python helper spoken to line by line.
type pyProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	stderr bytes.Buffer
}

func startPy(t *testing.T, args ...string) *pyProc {
	t.Helper()
	return startScript(t, "testdata/xlang.py", args...)
}

// startScript runs a Python test script with args, spoken to line by line
// on its stdin and stdout; it is killed at the end of the test.
func startScript(t *testing.T, script string, args ...string) *pyProc {
	t.Helper()
	p := &pyProc{t: t, cmd: exec.Command(python(t), append([]string{script}, args...)...)}
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatalf("StdinPipe: %v", err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	p.stdout = bufio.NewScanner(out)
	p.stdout.Buffer(make([]byte, 1<<20), 1<<20)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start python: %v", err)
	}
	shmtest.Track(p.cmd.Process.Pid)
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

func (p *pyProc) line() string {
	p.t.Helper()
	if !p.stdout.Scan() {
		p.t.Fatalf("python ended early: %v\n%s", p.stdout.Err(), p.stderr.String())
	}
	return p.stdout.Text()
}

func (p *pyProc) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, s+"\n"); err != nil {
		p.t.Fatalf("write to python: %v\n%s", err, p.stderr.String())
	}
}

// wait closes stdin and waits; stderr must be empty.
func (p *pyProc) wait() {
	p.t.Helper()
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("python: %v\n%s", err, p.stderr.String())
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		p.t.Errorf("python wrote to stderr:\n%s", s)
	}
}

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)
