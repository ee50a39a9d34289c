package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// The README's shell examples are run as written, against a fresh demo hub.
//
// Convention: every ```sh block of README.md is preceded (blank lines
// aside) by an HTML comment that says what this test does with it:
//
//	<!-- readme-test: run -->            run it, in order with the other runnable blocks
//	<!-- readme-test: skip REASON -->    do not run it (REASON says why: it starts a hub, needs a TV…)
//
// A block with neither fails the test, so a new example gets a decision.
// Runnable blocks share one working directory (cookies, downloaded files)
// but not shell variables. Each runs in `bash -e -o pipefail`, and every
// curl in it must carry -f (--fail) or -w, so an HTTP error fails the
// block. Before running, the test replaces what a reader would:
//
//	http://localhost:8080      the test hub's address
//	go run ./cmd/communehub    the binary built once for the test (same code, no second compile)
//	PW='…'                     the demo meeting users' password, copied from the hub's start-up output
//	chub_…                     the first API token an earlier block printed (tokens create)

// readmeBlock is one ```sh block of README.md.
type readmeBlock struct {
	line   int    // README line of the block's first command
	run    bool   // marked <!-- readme-test: run -->
	reason string // why not, for a skipped block
	text   string
}

var readmeMarker = regexp.MustCompile(`^<!--\s*readme-test:\s*(run|skip)\b\s*(.*?)\s*-->$`)

// readmeBlocks reads the ```sh blocks of a Markdown file with their markers.
func readmeBlocks(path string) ([]readmeBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	var body []string
	lastText := "" // the last non-blank line outside a block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, *cur)
			cur, body, lastText = nil, nil, ""
		case cur != nil:
			body = append(body, line)
		case strings.TrimSpace(line) == "```sh":
			cur = &readmeBlock{line: n + 1}
			m := readmeMarker.FindStringSubmatch(strings.TrimSpace(lastText))
			if m == nil {
				return nil, fmt.Errorf("%s:%d: a ```sh block without a <!-- readme-test: run --> or <!-- readme-test: skip REASON --> line before it", path, n)
			}
			cur.run, cur.reason = m[1] == "run", m[2]
			if !cur.run && cur.reason == "" {
				return nil, fmt.Errorf("%s:%d: readme-test: skip needs a reason", path, n-1)
			}
		case strings.TrimSpace(line) != "":
			lastText = line
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unclosed ```sh block", path, cur.line-1)
	}
	return blocks, sc.Err()
}

var (
	curlCall   = regexp.MustCompile(`(^|[\s|;&(])curl\s(.*)$`)
	curlFailOK = regexp.MustCompile(`(^|\s)(-[a-zA-Z]*f[a-zA-Z]*|--fail|--fail-with-body|-w|--write-out)(\s|$)`)
	tokenLine  = regexp.MustCompile(`(?m)^(chub_[A-Za-z0-9_-]+)$`)
	meetingPW  = regexp.MustCompile(`Demo meeting \d+ .*password: (\S+)`)
)

// uncheckedCurls returns the lines of a block whose curl would exit 0 on
// an HTTP error.
func uncheckedCurls(b readmeBlock) []string {
	var bad []string
	for i, l := range strings.Split(b.text, "\n") {
		if m := curlCall.FindStringSubmatch(l); m != nil && !curlFailOK.MatchString(m[2]) {
			bad = append(bad, fmt.Sprintf("README.md:%d: %s", b.line+i, strings.TrimSpace(l)))
		}
	}
	return bad
}

func TestReadmeBlocksMarked(t *testing.T) {
	blocks, err := readmeBlocks("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	runnable := 0
	for _, b := range blocks {
		if b.run {
			runnable++
			for _, l := range uncheckedCurls(b) {
				t.Errorf("%s\n\tcurl without -f or -w: an HTTP error would pass unnoticed", l)
			}
		}
	}
	if runnable == 0 {
		t.Error("README.md has no <!-- readme-test: run --> block")
	}
}

// TestReadmeExamples runs every runnable shell example of README.md, in
// order, against a fresh --demo hub (the real binary, free ports, its own
// database), substituting what a reader copies from the hub's output.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	hubtest.SkipShort(t, "builds and runs the real binary with demo data")
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the README examples need %s: %v", tool, err)
			}
			t.Skipf("the README examples need %s: %v", tool, err)
		}
	}
	blocks, err := readmeBlocks("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	bin := hubtest.Build(t, "./cmd/communehub")
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	dataDir := t.TempDir()
	h := startBinary(t, dbURL, []string{"COMMUNEHUB_DEMO=true", "COMMUNEHUB_DATA_DIR=" + dataDir})
	h.WaitHTTP(t, 90*time.Second, h.Base+"/readyz", 200)
	var password string
	hubtest.WaitFor(t, 60*time.Second, func() bool {
		if m := meetingPW.FindStringSubmatch(h.Stdout()); m != nil {
			password = m[1]
		}
		return password != "" && strings.Contains(h.Stdout(), "Demo admin created")
	}, "the demo's start-up output (meeting users' password, demo admin)")

	work := t.TempDir()
	env := append(os.Environ(), "COMMUNEHUB_DATABASE_URL="+dbURL, "COMMUNEHUB_DATA_DIR="+dataDir, "COMMUNEHUB_LOG_FORMAT=json")
	token := "" // the first API token the examples printed
	for _, b := range blocks {
		if !b.run {
			t.Logf("README.md:%d: not run: %s", b.line, b.reason)
			continue
		}
		script := b.text
		script = strings.ReplaceAll(script, "http://localhost:8080", h.Base)
		script = strings.ReplaceAll(script, "go run ./cmd/communehub", "'"+bin+"'")
		script = strings.ReplaceAll(script, "PW='…'", "PW='"+password+"'")
		if strings.Contains(script, "chub_…") {
			if token == "" {
				t.Fatalf("README.md:%d: the block needs an API token (chub_…), and no earlier block printed one", b.line)
			}
			script = strings.ReplaceAll(script, "chub_…", token)
		}
		// curl -S shows why a -sf request failed; the trap names the README line.
		prelude := fmt.Sprintf("shopt -s expand_aliases; alias curl='curl -S'\n"+
			"trap 's=$?; echo \"README.md:$((LINENO+%d)): exit $s: $BASH_COMMAND\" >&2' ERR\n", b.line-3)
		ctx, cancel := context.WithTimeout(context.Background(), hubtest.Timeout(2*time.Minute))
		cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", prelude+script)
		cmd.Dir, cmd.Env = work, env
		var out, errb hubtest.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("README.md:%d: the example failed (%v):\n--- stderr\n%s\n--- stdout\n%s\n--- as run\n%s",
				b.line, err, errb.String(), out.String(), script)
		}
		t.Logf("README.md:%d: ok (%d lines)", b.line, strings.Count(b.text, "\n"))
		if m := tokenLine.FindStringSubmatch(out.String()); m != nil && token == "" {
			token = m[1]
		}
	}
	if _, err := os.Stat(filepath.Join(work, "bien-ban.json")); err != nil {
		t.Errorf("the meetings example left no bien-ban.json: %v", err)
	}
}
