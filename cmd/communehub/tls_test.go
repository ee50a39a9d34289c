package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// trustingClient is an HTTP client that trusts only the certificate in
// the PEM file (the hub's self-signed one).
func trustingClient(t testing.TB, pemFile string) *http.Client {
	t.Helper()
	raw, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		t.Fatalf("no certificate in %s", pemFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func leafOf(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(file, file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The self-signed certificate is made once and kept (browsers that
// accepted it keep working across restarts), and made again when the
// machine gains a name or address, or when it nears its end.
func TestSelfSignedCertificateIsKeptAndRenewed(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	names := []string{"127.0.0.1", "localhost", "ubnd-xa-tan-lap"}
	file, _, fp1, made, err := selfSignedCert(dir, names, now)
	if err != nil || !made {
		t.Fatalf("first: made %v, %v", made, err)
	}
	c := leafOf(t, file)
	for _, n := range names {
		if err := c.VerifyHostname(n); err != nil {
			t.Errorf("certificate does not cover %s: %v", n, err)
		}
	}
	if got := c.NotAfter.Sub(now); got < 396*24*time.Hour || got > selfSignedValidity {
		t.Errorf("valid for %v, want ≤ 397 days", got)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v: it holds the key", st.Mode().Perm())
	}
	_, _, fp2, made, err := selfSignedCert(dir, names, now.Add(24*time.Hour))
	if err != nil || made || fp2 != fp1 {
		t.Errorf("restart: made %v, fingerprint %s → %s, %v; want the same certificate", made, fp1, fp2, err)
	}
	_, _, fp3, made, err := selfSignedCert(dir, append(names, "10.0.0.5"), now)
	if err != nil || !made || fp3 == fp1 {
		t.Errorf("a new address: made %v, %v; want a new certificate", made, err)
	}
	if err := leafOf(t, file).VerifyHostname("10.0.0.5"); err != nil {
		t.Errorf("new certificate: %v", err)
	}
	_, _, _, made, err = selfSignedCert(dir, names, now.Add(selfSignedValidity-selfSignedRenewal+time.Hour))
	if err != nil || !made {
		t.Errorf("29 days before its end: made %v, %v; want a new certificate", made, err)
	}
	if err := os.WriteFile(file, []byte("half a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, made, err = selfSignedCert(dir, names, now); err != nil || !made {
		t.Errorf("damaged file: made %v, %v; want a new certificate", made, err)
	}
}

// A renewed certificate (an ACME client or the province's IT replacing the
// files) is served without a restart; a broken replacement is not, the
// previous certificate stays.
func TestCertificateFilesReloadWhenTheyChange(t *testing.T) {
	a, _, _, _, err := selfSignedCert(filepath.Join(t.TempDir(), "a"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, _, err := selfSignedCert(filepath.Join(t.TempDir(), "b"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "hub.crt"), filepath.Join(dir, "hub.key")
	install := func(src string, stamp time.Time) {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{cert, key} {
			if err := os.WriteFile(f, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f, stamp, stamp); err != nil {
				t.Fatal(err)
			}
		}
	}
	served := func(r *certReloader) []byte {
		r.mu.Lock()
		r.checked = time.Time{} // as if certRecheck had passed
		r.mu.Unlock()
		c, err := r.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	t0 := time.Now().Add(-time.Hour)
	install(a, t0)
	var logs bytes.Buffer
	r := &certReloader{certFile: cert, keyFile: key, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := r.load(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served(r), leafOf(t, a).Raw) {
		t.Fatal("not serving the installed certificate")
	}
	install(b, t0.Add(time.Minute))
	if !bytes.Equal(served(r), leafOf(t, b).Raw) {
		t.Fatal("the renewed certificate is not served")
	}
	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nbroken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served(r), leafOf(t, b).Raw) {
		t.Fatal("a broken replacement displaced the working certificate")
	}
	if !strings.Contains(logs.String(), "does not load") {
		t.Errorf("the broken replacement was not logged: %s", logs.String())
	}
}

// Half a certificate setting, two certificates, or a certificate file the
// hub cannot load: exit 2 naming the setting.
func TestBadTLSSettingsExitTwo(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.pem")
	for _, c := range []struct {
		env     map[string]string
		setting string
	}{
		{map[string]string{"COMMUNEHUB_TLS_CERT": missing}, "COMMUNEHUB_TLS_KEY"},
		{map[string]string{"COMMUNEHUB_TLS_KEY": missing}, "COMMUNEHUB_TLS_CERT"},
		{map[string]string{"COMMUNEHUB_TLS_CERT": missing, "COMMUNEHUB_TLS_KEY": missing, "COMMUNEHUB_TLS_SELF_SIGNED": "true"}, "COMMUNEHUB_TLS_SELF_SIGNED"},
		{map[string]string{"COMMUNEHUB_TLS_CERT": missing, "COMMUNEHUB_TLS_KEY": missing, "COMMUNEHUB_DATA_DIR": dir}, "COMMUNEHUB_TLS_CERT"},
	} {
		var stderr bytes.Buffer
		code := Main(context.Background(), nil, env(c.env), strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.setting) || !strings.Contains(stderr.String(), "accepted") {
			t.Errorf("%v: exit %d, %q; want 2 naming %s and what is accepted", c.env, code, stderr.String(), c.setting)
		}
	}
}

// With --tls-self-signed the hub serves HTTPS with its own certificate:
// the API and the event websocket (wss) work through a client that trusts
// only that certificate, and the session cookie is marked Secure.
func TestServeHTTPSWithSelfSignedCertificate(t *testing.T) {
	hubtest.SkipShort(t, "a browser over HTTPS")
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_TLS_SELF_SIGNED": "true"})
	if code, body := p.get(t, "/healthz"); code != 200 {
		t.Fatalf("healthz over https: %d %s", code, body)
	}
	if !strings.Contains(p.Stderr.String(), `"sha256":"`) {
		t.Errorf("the certificate's fingerprint is not logged:\n%s", p.Stderr)
	}
	// An address typed without https:// is sent to the same URL over https.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp0, err := noFollow.Get("http://" + p.Addr + "/meetings/5?invite=abc")
	if err != nil {
		t.Fatalf("plain http to the https port: %v", err)
	}
	resp0.Body.Close()
	if loc := resp0.Header.Get("Location"); resp0.StatusCode != http.StatusPermanentRedirect || loc != p.Base+"/meetings/5?invite=abc" {
		t.Errorf("plain http: %d to %q, want 308 to %s/meetings/5?invite=abc", resp0.StatusCode, loc, p.Base)
	}
	// A connection that says nothing holds up no one else.
	idle, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if code, _ := p.get(t, "/healthz"); code != 200 {
		t.Errorf("healthz beside a silent connection: %d", code)
	}

	pool := openPool(t, dbURL)
	auth := hub.NewAuth(pool, hub.AuthConfig{}, nil)
	if _, err := auth.CreateUser(context.Background(), "truc-ban", hub.RoleOfficer, "mat-khau-dai-du-12"); err != nil {
		t.Fatal(err)
	}
	resp := p.login(t, "truc-ban", "mat-khau-dai-du-12")
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == hub.SessionCookie {
			session = c
		}
	}
	if resp.StatusCode != 200 || session == nil || !session.Secure {
		t.Fatalf("login over https: %d, cookie %+v; want a Secure session cookie", resp.StatusCode, session)
	}

	admin := apiToken(t, dbURL, "admin", hub.RoleAdmin)
	d := websocket.Dialer{TLSClientConfig: p.Client.Transport.(*http.Transport).TLSClientConfig, HandshakeTimeout: 10 * time.Second}
	c, r, err := d.Dial(fmt.Sprintf("wss://%s/ws?topic=meeting/1/log&access_token=%s", p.Addr, admin), nil)
	if err != nil {
		t.Fatalf("wss: %v (%v)", err, r)
	}
	c.Close()
}

// Over https a browser gives the meeting page its camera and microphone on
// any name, not only on localhost: a guest who opens the invite link at
// https://commune.test (a LAN name, mapped to loopback here) joins with
// camera and microphone and sends video.
func TestMeetingCameraOverHTTPSOnALANName(t *testing.T) {
	chromium := hubtest.Chromium(t)
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_TLS_SELF_SIGNED": "true"})
	admin := apiToken(t, dbURL, "admin", hub.RoleAdmin)
	call := func(method, path string, body, out any) {
		t.Helper()
		apiCallVia(t, p.Client, p.Base, admin, method, path, body, 0, out)
	}
	var m struct{ ID int64 }
	call("POST", "/api/v1/meetings", map[string]any{"unit": "03244", "title": "Họp trực tuyến", "starts_at": time.Now(), "seats": 3}, &m)
	var inv struct {
		URL string `json:"invite_url"`
	}
	call("POST", fmt.Sprintf("/api/v1/meetings/%d/invitees", m.ID), map[string]any{"name": "Giàng A Páo", "role": "guest"}, &inv)

	port := p.Addr[strings.LastIndex(p.Addr, ":")+1:]
	opts := append(hubtest.ChromeAllocatorOptions(t, chromium),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("host-resolver-rules", "MAP commune.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true), // the self-signed certificate, accepted once by a person
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tab, hubtest.Timeout(60*time.Second))
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("https://commune.test:"+port+inv.URL+"&autojoin=av")); err != nil {
		t.Fatal(err)
	}
	joined := `window.isSecureContext && document.body.dataset.state === 'room' && typeof window.meetingStats === 'function' &&
		window.meetingStats().then((s) => s.me !== '' && s.outbound.some((o) => o.kind === 'video' && o.packets > 20))`
	if err := hubtest.WaitJS(ctx, 40*time.Second, joined); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({secure: window.isSecureContext, url: location.href, state: document.body.dataset.state, text: document.body.innerText.slice(0, 300)})`))
		t.Fatalf("the guest never sent video over https on a LAN name: %v\n%s", err, state)
	}
}
