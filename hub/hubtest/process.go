package hubtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries holds the programs Build made, one build per package per test
// binary, in a directory removed by Main.
var binaries struct {
	mu   sync.Mutex
	dir  string
	path map[string]string
	err  map[string]error
}

// Build compiles the module's main package pkg (e.g. "./cmd/communehub")
// once per test binary, without -race so it starts quickly, and returns
// the program's path. Integration tests that need the real binary (a
// signal, kill -9, its own file-descriptor limit) run it with Start.
// Under -short it skips the test: such tests are not in the quick subset.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	SkipShort(t, "builds and runs the real binary")
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if p, ok := binaries.path[pkg]; ok {
		return p
	}
	if err, ok := binaries.err[pkg]; ok {
		t.Fatalf("hubtest: build %s: %v", pkg, err)
	}
	if binaries.path == nil {
		binaries.path, binaries.err = map[string]string{}, map[string]error{}
	}
	p, err := build(pkg)
	if err != nil {
		binaries.err[pkg] = err
		t.Fatalf("hubtest: build %s: %v", pkg, err)
	}
	binaries.path[pkg] = p
	return p
}

func build(pkg string) (string, error) {
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(mod)))
	if binaries.dir == "" {
		if binaries.dir, err = os.MkdirTemp("", "hubtest-bin-"); err != nil {
			return "", err
		}
	}
	out := filepath.Join(binaries.dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, b)
	}
	return out, nil
}

// removeBinaries is called by Main after the tests.
func removeBinaries() {
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
}

// Process is a program a test started with Start: its output is kept, and
// it is killed at the test's end if still running.
type Process struct {
	Cmd    *exec.Cmd
	stdout SyncBuffer
	stderr SyncBuffer
	done   chan struct{}
	err    error // Wait's result, set before done closes
}

// Start runs bin with args and, on top of the test's environment, env
// ("KEY=value" entries). The process is killed and waited for at cleanup.
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.stdout, &p.stderr
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("hubtest: start %s: %v", bin, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), p.Stderr())
		}
	})
	return p
}

// Stdout and Stderr return what the process wrote so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr: see Stdout.
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL (a crash: nothing is flushed) and waits for the end.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// Stop sends SIGTERM and returns the exit code, failing the test when the
// process does not end within timeout (scaled by Timeout).
func (p *Process) Stop(t testing.TB, timeout time.Duration) int {
	t.Helper()
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(Timeout(timeout)):
		p.Kill()
		t.Fatalf("hubtest: %s did not stop within %v of SIGTERM:\n%s", p.Cmd.Path, Timeout(timeout), p.Stderr())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// WaitHTTP polls url until it answers with status want, failing the test
// (with the process's stderr) when timeout passes or the process exits.
func (p *Process) WaitHTTP(t testing.TB, timeout time.Duration, url string, want int) {
	t.Helper()
	client := &http.Client{Timeout: Timeout(time.Second)}
	WaitFor(t, timeout, func() bool {
		if p.Exited() {
			t.Fatalf("hubtest: %s exited (%v) while waiting for %s:\n%s", p.Cmd.Path, p.err, url, p.Stderr())
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == want
	}, fmt.Sprintf("%s to answer %d", url, want))
}

// SyncBuffer is a bytes.Buffer that goroutines of the code under test may
// write (a log, a program's output) while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
