package hubtest

import (
	"strings"
	"testing"
	"time"
)

func TestBuildAndStartTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hub")
	}
	bin := Build(t, "./cmd/communehub")
	if again := Build(t, "./cmd/communehub"); again != bin {
		t.Fatalf("second Build gave %s, want the first build %s", again, bin)
	}
	p := Start(t, bin, nil, "--help")
	WaitFor(t, 30*time.Second, p.Exited, "communehub --help to exit")
	if out := p.Stdout() + p.Stderr(); !strings.Contains(out, "COMMUNEHUB_ADDR") {
		t.Fatalf("--help printed no settings:\n%s", out)
	}
	// A running program is killed by Kill, and Stop reports its exit code.
	q := Start(t, "sleep", nil, "60")
	q.Kill()
	if !q.Exited() {
		t.Fatal("Kill returned before the process ended")
	}
	r := Start(t, "sh", nil, "-c", "trap 'exit 3' TERM; echo up; while :; do sleep 0.05; done")
	WaitFor(t, 10*time.Second, func() bool { return strings.Contains(r.Stdout(), "up") }, "the shell to set its trap")
	if code := r.Stop(t, 10*time.Second); code != 3 {
		t.Fatalf("Stop gave exit code %d, want 3 (the TERM trap's)", code)
	}
}
