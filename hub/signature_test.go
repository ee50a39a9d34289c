package hub_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// signed returns the headers of a request signed with secret at ts.
func signed(tok, secret, method, path, query string, ts time.Time, body []byte) map[string]string {
	t := strconv.FormatInt(ts.Unix(), 10)
	return map[string]string{
		"Authorization": "Bearer " + tok,
		"X-Timestamp":   t,
		"X-Signature":   hub.SignRequest(secret, method, path, query, t, body),
	}
}

func errMessage(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// A signature covers the method, path, query, timestamp and body, and is
// admitted once: replayed, stale, moved or body-only signatures are refused.
func TestSignedRequests(t *testing.T) {
	t.Parallel()
	clock := hubtest.NewClock(time.Now())
	h := newTestHubWith(t, hub.AuthConfig{Now: clock.Now})
	_, tok, err := h.auth.CreateToken(context.Background(), "one-stop", hub.RoleOfficer, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"count":7}`)
	now := clock.Now()
	good := signed(tok, "s3cret", "POST", "/api/v1/echo", "b=2&a=1", now, body)
	if r := h.do(t, "POST", "/api/v1/echo?a=1&b=2", body, good); r.status != 200 || r.body["count"] != float64(7) {
		t.Fatalf("signed (query reordered by the client) = %d %v", r.status, r.body)
	}

	n := 0
	refused := func(name, method, path string, body []byte, hdr map[string]string, field, says string) {
		t.Helper()
		n++ // each check of the token signs a new request
		q := "n=" + strconv.Itoa(n)
		before := h.do(t, "GET", "/api/v1/me?"+q, nil, signed(tok, "s3cret", "GET", "/api/v1/me", q, clock.Now(), nil))
		if before.status != 200 {
			t.Fatalf("%s: a fresh signature is refused: %d %v", name, before.status, before.body)
		}
		r := h.do(t, method, path, body, hdr)
		_, f := errField(r)
		if r.status != 401 || f != field || !strings.Contains(errMessage(r), says) {
			t.Errorf("%s = %d %s %q, want 401 naming %s saying %q", name, r.status, f, errMessage(r), field, says)
		}
	}
	refused("replayed", "POST", "/api/v1/echo?a=1&b=2", body, good, "X-Signature", "already used")
	refused("stale timestamp", "POST", "/api/v1/echo", body,
		signed(tok, "s3cret", "POST", "/api/v1/echo", "", now.Add(-hub.SignatureSkew-2*time.Second), body), "X-Timestamp", "at most 300 s")
	refused("timestamp in the future", "POST", "/api/v1/echo", body,
		signed(tok, "s3cret", "POST", "/api/v1/echo", "", now.Add(hub.SignatureSkew+2*time.Second), body), "X-Timestamp", "at most 300 s")
	get := signed(tok, "s3cret", "GET", "/api/v1/units", "parent=11", now, nil)
	refused("moved to another path", "GET", "/api/v1/me?parent=11", nil, get, "X-Signature", "does not match")
	refused("moved to another query", "GET", "/api/v1/units?parent=12", nil, get, "X-Signature", "does not match")
	refused("moved to another method", "DELETE", "/api/v1/units?parent=11", nil, get, "X-Signature", "does not match")
	refused("another body", "POST", "/api/v1/echo", []byte(`{"count":8}`),
		signed(tok, "s3cret", "POST", "/api/v1/echo", "", now, body), "X-Signature", "does not match")
	refused("wrong secret", "POST", "/api/v1/echo", body,
		signed(tok, "other", "POST", "/api/v1/echo", "", now, body), "X-Signature", "does not match")
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(body)
	old := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	refused("old style (body only, no timestamp)", "POST", "/api/v1/echo", body,
		map[string]string{"Authorization": "Bearer " + tok, "X-Signature": old}, "X-Timestamp", "not the body alone")
	refused("old style with a timestamp", "POST", "/api/v1/echo", body,
		map[string]string{"Authorization": "Bearer " + tok, "X-Signature": old, "X-Timestamp": strconv.FormatInt(now.Unix(), 10)},
		"X-Signature", "body alone")
	refused("unsigned", "POST", "/api/v1/echo", body, map[string]string{"Authorization": "Bearer " + tok}, "X-Signature", "X-Timestamp: <unix seconds>")
	// The one signature over the empty body of the old scheme no longer
	// opens every GET.
	empty := hmac.New(sha256.New, []byte("s3cret"))
	refused("old empty-body signature", "GET", "/api/v1/units?parent=11", nil, map[string]string{"Authorization": "Bearer " + tok,
		"X-Signature": "sha256=" + hex.EncodeToString(empty.Sum(nil)), "X-Timestamp": strconv.FormatInt(now.Unix(), 10)}, "X-Signature", "")

	// Another instance on the same database refuses a signature this one
	// admitted: used signatures are kept in PostgreSQL.
	other := hub.NewAuth(h.pool, hub.AuthConfig{Now: clock.Now}, slog.New(slog.DiscardHandler))
	core2 := &hub.Core{Pool: h.pool, Bus: h.bus, Auth: other, Units: hub.NewUnits(h.pool), Metrics: hub.NewMetrics(),
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness()}
	app2 := hub.NewApp(hub.AppOptions{})
	core2.Mount(app2)
	h2 := &testHub{pool: h.pool, app: app2}
	once := signed(tok, "s3cret", "GET", "/api/v1/me", "", now, nil)
	if r := h.do(t, "GET", "/api/v1/me", nil, once); r.status != 200 {
		t.Fatalf("first use = %d", r.status)
	}
	if r := h2.do(t, "GET", "/api/v1/me", nil, once); r.status != 401 {
		t.Errorf("replayed on another instance = %d, want 401", r.status)
	}

	// Used signatures are forgotten once their timestamp is out of the
	// window (and would be refused as stale anyway): the table stays small.
	clock.Add(hub.SignatureSkew + 2*time.Minute)
	if r := h.do(t, "GET", "/api/v1/me", nil, signed(tok, "s3cret", "GET", "/api/v1/me", "", clock.Now(), nil)); r.status != 200 {
		t.Fatalf("fresh signature later = %d", r.status)
	}
	var kept int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM used_signatures`).Scan(&kept); err != nil || kept != 1 {
		t.Errorf("used signatures kept after the window: %d, %v", kept, err)
	}
}

// A bearer token that matches nothing is told apart from no credentials.
func TestInvalidTokenIsNamed(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	ctx := context.Background()
	id, tok, err := h.auth.CreateToken(ctx, "x", hub.RoleViewer, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.auth.RevokeToken(ctx, id); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path  string
		hdr         map[string]string
		field, says string
	}{
		{"none", "/api/v1/me", nil, "", "authentication required"},
		{"unknown", "/api/v1/me", map[string]string{"Authorization": "Bearer chub_nothing"}, "Authorization", "invalid or revoked token"},
		{"revoked", "/api/v1/me", map[string]string{"Authorization": "Bearer " + tok}, "Authorization", "invalid or revoked token"},
		{"revoked, in the query", "/api/v1/me?access_token=" + tok, nil, "access_token", "invalid or revoked token"},
		{"ended session", "/api/v1/me", map[string]string{"Cookie": hub.SessionCookie + "=gone"}, hub.SessionCookie, "session expired"},
	}
	for _, tc := range cases {
		r := h.do(t, "GET", tc.path, nil, tc.hdr)
		if _, f := errField(r); r.status != 401 || f != tc.field || !strings.Contains(errMessage(r), tc.says) {
			t.Errorf("%s: %d %s %q, want 401 naming %q saying %q", tc.name, r.status, f, errMessage(r), tc.field, tc.says)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add("sha256="+strings.Repeat("ab", 32), "1733540000")
	f.Add("sha256="+strings.Repeat("AB", 32), "0")
	f.Add("sha256=", "")
	f.Add("", "1733540000")
	f.Add("sha256="+strings.Repeat("zz", 32), "-1")
	f.Add("sha1=00", "+1733540000")
	f.Add("sha256="+strings.Repeat("0", 63), "99999999999999999999")
	f.Add("SHA256="+strings.Repeat("00", 32), "1e9")
	f.Fuzz(func(t *testing.T, sig, ts string) {
		mac, unix, err := hub.ParseSignature(sig, ts)
		if err != nil {
			if err.Code != hub.EUnauthorized || (err.Field != "X-Signature" && err.Field != "X-Timestamp") || err.Message == "" {
				t.Fatalf("error %+v", err)
			}
			return
		}
		if len(mac) != sha256.Size || unix < 0 || strconv.FormatInt(unix, 10) != strings.TrimLeft(ts, "0") && unix != 0 {
			t.Fatalf("accepted %q %q as %x %d", sig, ts, mac, unix)
		}
		if "sha256="+hex.EncodeToString(mac) != strings.ToLower(sig) {
			t.Fatalf("signature %q parsed as %x", sig, mac)
		}
	})
}
