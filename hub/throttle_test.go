package hub_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func login(t *testing.T, h *testHub, user, password string) reply {
	t.Helper()
	return h.do(t, "POST", "/api/v1/login", fmt.Appendf(nil, `{"username":%q,"password":%q}`, user, password), nil)
}

// loginFailures reads communehub_login_failures_total{reason} from /metrics.
func loginFailures(t *testing.T, h *testHub, reason string) string {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := `communehub_login_failures_total{reason="` + reason + `"} `
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return "none"
}

// One account's failures lock that account only (429 with Retry-After,
// backing off); another account behind the same address still logs in.
func TestLoginThrottlePerAccount(t *testing.T) {
	t.Parallel()
	clock := hubtest.NewClock(time.Now())
	h := newTestHubWith(t, hub.AuthConfig{Now: clock.Now})
	ctx := context.Background()
	for _, u := range []string{"lan", "mai"} {
		if _, err := h.auth.CreateUser(ctx, u, hub.RoleOfficer, u+"-correct-horse"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 5; i++ {
		if r := login(t, h, "lan", "wrong password"); r.status != 401 {
			t.Fatalf("failure %d = %d %v", i, r.status, r.body)
		}
	}
	r := login(t, h, "lan", "lan-correct-horse")
	if code, _ := errField(r); r.status != 429 || code != hub.ETooMany || r.header.Get("Retry-After") != "1" {
		t.Fatalf("after 5 failures, the right password = %d %s Retry-After %q, want 429 Retry-After 1", r.status, code, r.header.Get("Retry-After"))
	}
	if r := login(t, h, "mai", "mai-correct-horse"); r.status != 200 {
		t.Fatalf("another account from the same address = %d %v", r.status, r.body)
	}
	// Each further failure doubles the wait.
	for i, want := range []string{"2", "4"} {
		clock.Add(time.Hour / 2) // past the lock, within the memory of failures
		_ = login(t, h, "lan", "wrong again")
		if r := login(t, h, "lan", "lan-correct-horse"); r.status != 429 || r.header.Get("Retry-After") != want {
			t.Fatalf("failure %d: %d Retry-After %q, want 429 %s", 6+i, r.status, r.header.Get("Retry-After"), want)
		}
	}
	clock.Add(5 * time.Second)
	if r := login(t, h, "lan", "lan-correct-horse"); r.status != 200 {
		t.Fatalf("after the lock = %d %v", r.status, r.body)
	}
	// A success forgets the failures.
	if r := login(t, h, "lan", "wrong"); r.status != 401 {
		t.Fatalf("first failure after a success = %d", r.status)
	}
	if got := loginFailures(t, h, hub.LoginWrongPassword); got != "8" {
		t.Errorf("wrong_password failures counted = %v, want 8", got)
	}
	if got := loginFailures(t, h, hub.LoginLockedAccount); got != "3" {
		t.Errorf("locked_account refusals counted = %v, want 3", got)
	}
}

// Failures across many accounts from one address lock the address, at a
// threshold far above one account's.
func TestLoginThrottlePerAddress(t *testing.T) {
	t.Parallel()
	clock := hubtest.NewClock(time.Now())
	h := newTestHubWith(t, hub.AuthConfig{Now: clock.Now, Throttle: hub.ThrottleConfig{IPFree: 4}})
	if _, err := h.auth.CreateUser(context.Background(), "mai", hub.RoleOfficer, "mai-correct-horse"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if r := login(t, h, "user"+strconv.Itoa(i), "guess"); r.status != 401 {
			t.Fatalf("failure %d = %d", i+1, r.status)
		}
	}
	if r := login(t, h, "mai", "mai-correct-horse"); r.status != 200 {
		t.Fatalf("below the address threshold = %d", r.status)
	}
	_ = login(t, h, "user99", "guess") // the 4th failure
	r := login(t, h, "mai", "mai-correct-horse")
	e, _ := r.body["error"].(map[string]any)
	if d, _ := e["details"].(map[string]any); r.status != 429 || d["scope"] != "ip" || r.header.Get("Retry-After") == "" {
		t.Fatalf("past the address threshold = %d %v Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	if got := loginFailures(t, h, hub.LoginUnknownUser); got != "4" {
		t.Errorf("unknown_user failures counted = %v, want 4", got)
	}
	clock.Add(2 * time.Second)
	if r := login(t, h, "mai", "mai-correct-horse"); r.status != 200 {
		t.Fatalf("after the address lock = %d", r.status)
	}
}
