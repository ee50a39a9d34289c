package hub

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDeadlinesScale keeps the module's tests robust on a loaded machine
// (docs/reliability.md, "The test suite on a loaded machine"). In every
// _test.go file, and in the test helper packages hub/hubtest and
// meetings/sfu/sfutest:
//
//   - a deadline given as a literal duration (5*time.Second) goes through
//     hubtest.Timeout or deadline.Timeout, which scale it by
//     COMMUNEHUB_TEST_TIMEOUT_FACTOR. A deadline is an argument of
//     context.WithTimeout/WithDeadline, time.After, time.NewTimer,
//     time.AfterFunc, SetDeadline/SetReadDeadline/SetWriteDeadline,
//     net.DialTimeout, chromedp.WithPollingTimeout, paho's
//     WaitTimeout and SetConnectTimeout, an http.Client's
//     Timeout, the bound of a hand-written loop (time.Now().Before(x),
//     time.Now().After(x), time.Until(x), time.Since(s) < x), or a test
//     helper's duration parameter that reaches one of those unscaled.
//     A local variable is followed to what is assigned to it. Helpers are
//     matched by name alone (go/ast, no types): two helpers of one name
//     count as one, and one that does not scale wins.
//   - a helper that scales its duration itself (hubtest.WaitFor, Stop,
//     WaitHTTP, WaitJS, NewPage ...) takes the plain duration; wrapping it
//     in Timeout as well would scale it twice.
//   - time.Sleep and chromedp.Sleep are for pauses that are part of the
//     scenario (a slow client, a load generator's pace); a wait for
//     something to happen polls it (hubtest.WaitFor).
//
// A deliberate exception carries a comment on its line or the line above
// (for a variable: where it is defined): "// deadline: why" for a duration
// that is not a wait, "// sleep: why" for a pause that is part of the
// scenario. A quiet window (nothing may happen for a while) is a pause,
// scaled like a deadline so that a busy machine does not weaken it.
func TestDeadlinesScale(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	helperDirs := []string{filepath.Join(root, "hub", "hubtest"), filepath.Join(root, "meetings", "sfu", "sfutest")}
	fset := token.NewFileSet()
	var files []*ast.File
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") && !slices.Contains(helperDirs, filepath.Dir(path)) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d files found under %s", len(files), root)
	}
	problems := checkDeadlines(root, fset, files)
	for _, p := range problems {
		t.Error(p)
	}
	if len(problems) > 0 {
		t.Logf("%d deadlines or sleeps to fix: wrap a deadline in hubtest.Timeout(d) (deadline.Timeout in hub and hub/pgembed), replace a sleep that waits for something by hubtest.WaitFor, or mark a deliberate case with a \"// deadline: why\" or \"// sleep: why\" comment", len(problems))
	}
}

// checkDeadlines returns what TestDeadlinesScale finds in files, as
// "path:line: problem" with paths relative to root.
func checkDeadlines(root string, fset *token.FileSet, files []*ast.File) []string {
	c := &deadlineCheck{root: root, fset: fset, helpers: map[string]map[int]helperKind{}, assigned: map[*ast.Object][]ast.Expr{}}
	c.learnAssignments(files)
	c.learnHelpers(files)
	for _, f := range files {
		c.checkFile(f)
	}
	return c.problems
}

// The check itself: what it must find, and what it must let pass.
func TestDeadlineCheckFindsFixedWaits(t *testing.T) {
	const src = `package x

func bad(t *testing.T, c net.Conn, ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // want
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second)) // want
	select {
	case <-time.After(time.Second): // want
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // want
		time.Sleep(10 * time.Millisecond) // want
	}
	deadline = time.Now().Add(3 * time.Second)
	_ = time.Now().After(deadline) // want
	for start := time.Now(); time.Since(start) < time.Second; { // want
	}
	readFor(c, 3*time.Second) // want
	hubtest.WaitFor(t, hubtest.Timeout(time.Second), nil, "") // want
	_ = &http.Client{Timeout: 20 * time.Second} // want
}

func good(t *testing.T, c net.Conn, ctx context.Context, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, hubtest.Timeout(5*time.Second))
	_ = c.SetReadDeadline(time.Now().Add(deadline.Timeout(2 * time.Second)))
	end := time.Now().Add(hubtest.Timeout(10 * time.Second))
	for time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond) // sleep: the polling interval
	}
	run := time.Now().Add(time.Minute) // deadline: the run's length
	for time.Now().Before(run) {
	}
	hubtest.WaitFor(t, time.Second, nil, "")
	waitScaled(t, 3*time.Second)
	_ = time.Now().Add(time.Hour) // data, not a deadline
	_ = c.SetReadDeadline(time.Now().Add(d))
}

// readFor is a helper that uses its duration unscaled: its callers scale.
func readFor(c net.Conn, d time.Duration) { _ = c.SetReadDeadline(time.Now().Add(d)) }

// WaitFor stands for hubtest's, which the real check reads.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	timeout = Timeout(timeout)
}

// waitScaled scales its duration itself, as hubtest.WaitFor does.
func waitScaled(t *testing.T, d time.Duration) {
	d = hubtest.Timeout(d)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // sleep: the polling interval
	}
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "/m/x_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, line := range strings.Split(src, "\n") {
		if strings.HasSuffix(line, "// want") {
			want = append(want, fmt.Sprintf("x_test.go:%d", i+1))
		}
	}
	var got []string
	for _, p := range checkDeadlines("/m", fset, []*ast.File{f}) {
		got = append(got, p[:strings.Index(p, ": ")])
	}
	if !slices.Equal(got, want) {
		t.Errorf("found at %v\nwant at  %v\nproblems: %q", got, want, checkDeadlines("/m", fset, []*ast.File{f}))
	}
}

// helperKind says what a test helper does with one of its duration
// parameters.
type helperKind int

const (
	helperSink   helperKind = iota + 1 // uses it as a deadline, unscaled: callers scale
	helperScales                       // scales it itself: callers must not
)

type deadlineCheck struct {
	root string
	fset *token.FileSet
	// helpers maps a function or method name to what it does with its
	// duration parameter at each position. Names are matched without their
	// package or receiver; a name both scaling and not counts as a sink.
	helpers  map[string]map[int]helperKind
	assigned map[*ast.Object][]ast.Expr
	problems []string
}

var durationUnits = map[string]bool{"Nanosecond": true, "Microsecond": true, "Millisecond": true, "Second": true, "Minute": true, "Hour": true}

// learnHelpers finds, to a fixed point, the functions with a time.Duration
// parameter that reaches a deadline (unscaled) or a Timeout call.
func (c *deadlineCheck) learnHelpers(files []*ast.File) {
	for changed := true; changed; {
		changed = false
		for _, f := range files {
			for _, decl := range f.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				i := 0
				for _, field := range fd.Type.Params.List {
					n := max(len(field.Names), 1)
					if isSel(field.Type, "time", "Duration") {
						for _, name := range field.Names {
							if k := c.paramKind(fd.Body, name.Obj); k != 0 && c.setHelper(fd.Name.Name, i, k) {
								changed = true
							}
							i++
						}
						if len(field.Names) == 0 {
							i++
						}
						continue
					}
					i += n
				}
			}
		}
	}
}

func (c *deadlineCheck) setHelper(name string, i int, k helperKind) bool {
	m := c.helpers[name]
	if m == nil {
		m = map[int]helperKind{}
		c.helpers[name] = m
	}
	old := m[i]
	if old == helperSink || old == k {
		return false
	}
	m[i] = k
	return true
}

// paramKind says whether param (a duration parameter) reaches a deadline in
// body unscaled (helperSink), only through Timeout or a scaling helper
// (helperScales), or not at all (0).
func (c *deadlineCheck) paramKind(body *ast.BlockStmt, param *ast.Object) helperKind {
	if param == nil {
		return 0
	}
	// d = hubtest.Timeout(d), as WaitFor does: scaled from there on.
	reassigned := false
	ast.Inspect(body, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
			if id, ok := as.Lhs[0].(*ast.Ident); ok && id.Obj == param {
				if call, ok := as.Rhs[0].(*ast.CallExpr); ok && isTimeoutCall(call) {
					reassigned = true
				}
			}
		}
		return !reassigned
	})
	if reassigned {
		return helperScales
	}
	kind := helperKind(0)
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if isTimeoutCall(call) && len(call.Args) == 1 && mentions(call.Args[0], param) {
			if kind == 0 {
				kind = helperScales
			}
			return false
		}
		for _, a := range c.deadlineArgs(call) {
			if !c.mentionsUnscaled(a.expr, param) {
				continue
			}
			switch a.kind {
			case helperSink:
				kind = helperSink
			case helperScales:
				if kind == 0 {
					kind = helperScales
				}
			}
		}
		return true
	})
	return kind
}

// deadlineArg is an argument of a call that is a deadline: one that must
// be scaled by the caller (helperSink) or one the callee scales
// (helperScales).
type deadlineArg struct {
	expr ast.Expr
	kind helperKind
	what string
}

// deadlineArgs returns call's arguments that are deadlines.
func (c *deadlineCheck) deadlineArgs(call *ast.CallExpr) []deadlineArg {
	arg := func(i int, what string) []deadlineArg {
		if i < len(call.Args) {
			return []deadlineArg{{call.Args[i], helperSink, what}}
		}
		return nil
	}
	fun := call.Fun
	switch {
	case isSel(fun, "context", "WithTimeout"), isSel(fun, "context", "WithTimeoutCause"):
		return arg(1, "context.WithTimeout")
	case isSel(fun, "context", "WithDeadline"), isSel(fun, "context", "WithDeadlineCause"):
		return arg(1, "context.WithDeadline")
	case isSel(fun, "time", "After"), isSel(fun, "time", "NewTimer"), isSel(fun, "time", "AfterFunc"):
		return arg(0, "time."+fun.(*ast.SelectorExpr).Sel.Name)
	case isSel(fun, "time", "Until"):
		return arg(0, "time.Until")
	case isSel(fun, "net", "DialTimeout"):
		return arg(2, "net.DialTimeout")
	case isSel(fun, "chromedp", "WithPollingTimeout"):
		return arg(0, "chromedp.WithPollingTimeout")
	}
	sel, ok := fun.(*ast.SelectorExpr)
	if ok {
		switch sel.Sel.Name {
		case "SetDeadline", "SetReadDeadline", "SetWriteDeadline":
			return arg(0, sel.Sel.Name)
		case "WaitTimeout", "SetConnectTimeout": // paho's tokens and options
			return arg(0, sel.Sel.Name)
		case "Before", "After":
			// time.Now().Before(deadline): a hand-written loop's bound.
			if inner, ok := sel.X.(*ast.CallExpr); ok && isSel(inner.Fun, "time", "Now") {
				return arg(0, "time.Now()."+sel.Sel.Name)
			}
		}
	}
	name := ""
	switch f := fun.(type) {
	case *ast.Ident:
		name = f.Name
	case *ast.SelectorExpr:
		name = f.Sel.Name
	}
	var out []deadlineArg
	for i, k := range c.helpers[name] {
		if i < len(call.Args) {
			out = append(out, deadlineArg{call.Args[i], k, name})
		}
	}
	return out
}

func (c *deadlineCheck) checkFile(f *ast.File) {
	allow := map[int]string{}
	for _, cg := range f.Comments {
		for _, cm := range cg.List {
			text := strings.TrimSpace(strings.TrimPrefix(cm.Text, "//"))
			for _, marker := range []string{"deadline:", "sleep:"} {
				if strings.HasPrefix(text, marker) {
					allow[c.fset.Position(cm.Pos()).Line] = marker
				}
			}
		}
	}
	allowed := func(n ast.Node, marker string) bool {
		line := c.fset.Position(n.Pos()).Line
		return allow[line] == marker || allow[line-1] == marker
	}
	// A variable marked where it is defined is marked where it is used.
	literalDuration := func(e ast.Expr, depth int) ast.Node {
		return c.literalDuration(e, depth, func(def ast.Expr) bool { return allowed(def, "deadline:") })
	}
	report := func(n ast.Node, format string) {
		pos := c.fset.Position(n.Pos())
		rel, _ := filepath.Rel(c.root, pos.Filename)
		c.problems = append(c.problems, fmt.Sprintf("%s:%d: %s", rel, pos.Line, format))
	}
	// reportLit reports a fixed duration lit used as a deadline at use.
	reportLit := func(use, lit ast.Node, format string) {
		if l := c.fset.Position(lit.Pos()).Line; l != c.fset.Position(use.Pos()).Line {
			format += fmt.Sprintf(" (the duration is at line %d)", l)
		}
		report(use, format)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if isSel(n.Fun, "time", "Sleep") || isSel(n.Fun, "chromedp", "Sleep") {
				if !allowed(n, "sleep:") {
					report(n, "a sleep: poll the condition (hubtest.WaitFor), or say why the pause is part of the scenario with a \"// sleep: why\" comment")
				}
				return true
			}
			for _, a := range c.deadlineArgs(n) {
				switch {
				case a.kind == helperSink && literalDuration(a.expr, 0) != nil && !allowed(n, "deadline:"):
					reportLit(a.expr, literalDuration(a.expr, 0), a.what+" is given a fixed duration: wrap it in hubtest.Timeout, or mark a duration that is not a wait with \"// deadline: why\"")
				case a.kind == helperScales && scaledAgain(a.expr):
					report(a.expr, a.what+" scales its duration itself: pass it without Timeout")
				}
			}
		case *ast.BinaryExpr:
			// time.Since(start) < 5*time.Second: a hand-written loop's bound.
			switch n.Op {
			case token.LSS, token.LEQ, token.GTR, token.GEQ:
			default:
				return true
			}
			for _, pair := range [][2]ast.Expr{{n.X, n.Y}, {n.Y, n.X}} {
				if call, ok := pair[0].(*ast.CallExpr); ok && isSel(call.Fun, "time", "Since") && literalDuration(pair[1], 0) != nil && !allowed(n, "deadline:") {
					reportLit(pair[1], literalDuration(pair[1], 0), "time.Since(...) is compared with a fixed duration: wrap it in hubtest.Timeout, or use hubtest.WaitFor, or mark a duration that is not a wait with \"// deadline: why\"")
				}
			}
		case *ast.CompositeLit:
			if isSel(n.Type, "http", "Client") {
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Timeout") && literalDuration(kv.Value, 0) != nil && !allowed(kv, "deadline:") {
						report(kv.Value, "http.Client's Timeout is a fixed duration: wrap it in hubtest.Timeout")
					}
				}
			}
		}
		return true
	})
}

// literalDuration returns the fixed duration (time.Second and the like)
// in e that no Timeout call scales, following local variables to their
// definitions unless allowed says a definition is marked; nil if none.
func (c *deadlineCheck) literalDuration(e ast.Expr, depth int, allowed func(ast.Expr) bool) ast.Node {
	if depth > 8 {
		return nil
	}
	var found ast.Node
	ast.Inspect(e, func(n ast.Node) bool {
		if found != nil {
			return false
		}
		switch n := n.(type) {
		case *ast.CallExpr:
			if isTimeoutCall(n) {
				return false
			}
		case *ast.SelectorExpr:
			if isIdent(n.X, "time") && durationUnits[n.Sel.Name] {
				found = n
			}
			return false
		case *ast.Ident:
			for _, def := range c.definitions(n) {
				if found == nil && !allowed(def) {
					found = c.literalDuration(def, depth+1, allowed)
				}
			}
		}
		return true
	})
	return found
}

// definitions returns the expressions a local variable or constant was
// defined or assigned with, one value each (deadline := ...; deadline = ...).
func (c *deadlineCheck) definitions(id *ast.Ident) []ast.Expr {
	obj := id.Obj
	if obj == nil || (obj.Kind != ast.Var && obj.Kind != ast.Con) {
		return nil
	}
	defs := c.assigned[obj]
	if d, ok := obj.Decl.(*ast.ValueSpec); ok && len(d.Names) == len(d.Values) {
		for i, n := range d.Names {
			if n.Obj == obj {
				defs = append(defs, d.Values[i])
			}
		}
	}
	return defs
}

// learnAssignments records, for every variable, the values assigned to it
// one by one (not a call's several results).
func (c *deadlineCheck) learnAssignments(files []*ast.File) {
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for i, l := range as.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Obj != nil {
						c.assigned[id.Obj] = append(c.assigned[id.Obj], as.Rhs[i])
					}
				}
			}
			return true
		})
	}
}

// scaledAgain reports whether e is itself a Timeout call.
func scaledAgain(e ast.Expr) bool {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	return ok && isTimeoutCall(call)
}

// isTimeoutCall reports whether call is hubtest.Timeout, deadline.Timeout
// or, inside those packages, Timeout.
func isTimeoutCall(call *ast.CallExpr) bool {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name == "Timeout"
	case *ast.SelectorExpr:
		return f.Sel.Name == "Timeout" && (isIdent(f.X, "hubtest") || isIdent(f.X, "deadline"))
	}
	return false
}

// mentions reports whether e uses the object obj.
func mentions(e ast.Node, obj *ast.Object) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Obj == obj {
			found = true
		}
		return !found
	})
	return found
}

// mentionsUnscaled reports whether e uses obj outside a Timeout call,
// following local variables to their definitions.
func (c *deadlineCheck) mentionsUnscaled(e ast.Node, obj *ast.Object) bool {
	found := false
	seen := map[*ast.Object]bool{}
	var walk func(ast.Node)
	walk = func(e ast.Node) {
		ast.Inspect(e, func(n ast.Node) bool {
			if found {
				return false
			}
			switch n := n.(type) {
			case *ast.CallExpr:
				if isTimeoutCall(n) {
					return false
				}
			case *ast.Ident:
				if n.Obj == obj {
					found = true
				} else if n.Obj != nil && !seen[n.Obj] {
					seen[n.Obj] = true
					for _, def := range c.definitions(n) {
						walk(def)
					}
				}
			}
			return true
		})
	}
	walk(e)
	return found
}

func isSel(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && s.Sel.Name == name && isIdent(s.X, pkg)
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
