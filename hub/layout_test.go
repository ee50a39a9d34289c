package hub

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/communehub/communehub"

// TestImportRules enforces the layout of docs/architecture.md: the kernel
// imports no feature, features do not import each other, meetings/media
// sits on meetings (never the other way round), and each outside
// dependency has one home (paho and mochi in devices, pion in meetings).
func TestImportRules(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	features := []string{module + "/alerts", module + "/backlog", module + "/devices", module + "/displays", module + "/meetings"}
	media := module + "/meetings/media" // imports meetings; nothing else of meetings imports it
	within := func(pkg, base string) bool { return pkg == base || strings.HasPrefix(pkg, base+"/") }
	featureOf := func(pkg string) string {
		for _, f := range features {
			if within(pkg, f) {
				return f
			}
		}
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	checked := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], module) {
			continue
		}
		pkg, imports := fields[0], fields[1:]
		checked++
		own := featureOf(pkg)
		isKernel := within(pkg, module+"/hub") && own == ""
		for _, imp := range imports {
			target := featureOf(imp)
			switch {
			case isKernel && target != "" && !within(pkg, module+"/hub/hubtest"):
				t.Errorf("kernel package %s imports feature %s", pkg, imp)
			case own != "" && target != "" && target != own:
				t.Errorf("feature %s imports another feature %s (talk through bus topics)", pkg, imp)
			case within(imp, media) && own == module+"/meetings" && !within(pkg, media):
				t.Errorf("%s imports %s; media sits on meetings, not the other way round", pkg, imp)
			case strings.HasPrefix(imp, "github.com/eclipse/paho") || strings.HasPrefix(imp, "github.com/mochi-mqtt/"):
				if own != module+"/devices" && !strings.HasPrefix(pkg, module+"/cmd/devicesim") {
					t.Errorf("%s imports %s; only devices (and cmd/devicesim) may", pkg, imp)
				}
			case strings.HasPrefix(imp, "github.com/pion/"):
				if own != module+"/meetings" {
					t.Errorf("%s imports %s; only meetings may", pkg, imp)
				}
			}
		}
	}
	if checked < 2 {
		t.Fatalf("only %d packages listed; go list output was %q", checked, out)
	}
}
