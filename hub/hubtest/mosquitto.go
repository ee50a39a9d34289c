package hubtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mosquitto returns the address of the machine's Mosquitto, 127.0.0.1:1883,
// or COMMUNEHUB_TEST_MQTT_ADDR when set. When nothing answers it skips the
// test (fails it with CI=true). The broker is shared: use topics of the
// test's own.
func Mosquitto(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("COMMUNEHUB_TEST_MQTT_ADDR"); addr != "" {
		return addr
	}
	const addr = "127.0.0.1:1883"
	if !answers(addr) {
		skipOrFatal(t, "needs Mosquitto at 127.0.0.1:1883 (apt-get install mosquitto)")
	}
	return addr
}

// StartMosquitto runs a private mosquitto for the test on a free loopback
// port and returns its address; it is killed when the test ends. Its
// configuration is a listener on that port, allow_anonymous true (unless
// conf sets allow_anonymous) and, as root, "user root" (unless conf sets
// user) so that it can read files in t.TempDir; then the lines of conf,
// which apply to that listener. A per_listener_settings line in conf is
// moved first, as mosquitto requires. Without the mosquitto binary the test
// is skipped (failed with CI=true).
func StartMosquitto(t testing.TB, conf string) string {
	t.Helper()
	bin := mosquittoBinary()
	if bin == "" {
		skipOrFatal(t, "needs the mosquitto binary (apt-get install mosquitto)")
		return ""
	}
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		path := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(path, []byte(mosquittoConf(port, conf)), 0o600); err != nil {
			t.Fatalf("hubtest: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		out := &tailBuffer{max: 1 << 20}
		cmd := exec.Command(bin, "-c", path)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("hubtest: start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { // owned by the cleanup below, which waits for it
			cmd.Wait()
			close(exited)
		}()
		if waitListening(addr, exited, Timeout(10*time.Second)) {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return addr
		}
		cmd.Process.Kill()
		<-exited
		// Another process may have taken the port after FreePort.
		if attempt < 3 && strings.Contains(out.String(), "in use") {
			continue
		}
		t.Fatalf("hubtest: mosquitto did not listen on %s:\n%s\nconfiguration:\n%s", addr, out.String(), mosquittoConf(port, conf))
	}
}

func mosquittoBinary() string {
	for _, name := range []string{"/usr/sbin/mosquitto", "mosquitto"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func mosquittoConf(port int, conf string) string {
	var first, rest strings.Builder
	sets := map[string]bool{}
	for _, line := range strings.Split(conf, "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			sets[fields[0]] = true
		}
		if len(fields) > 0 && fields[0] == "per_listener_settings" {
			first.WriteString(line + "\n")
		} else {
			rest.WriteString(line + "\n")
		}
	}
	fmt.Fprintf(&first, "listener %d 127.0.0.1\n", port)
	if !sets["allow_anonymous"] {
		first.WriteString("allow_anonymous true\n")
	}
	if os.Geteuid() == 0 && !sets["user"] {
		first.WriteString("user root\n")
	}
	return first.String() + rest.String()
}

func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, Timeout(100*time.Millisecond)); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond) // sleep: the polling interval
	}
	return false
}

// tailBuffer keeps the last max bytes written to it; safe for the
// goroutines of exec.Cmd and the test reading it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = w.b[len(w.b)-w.max:]
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
