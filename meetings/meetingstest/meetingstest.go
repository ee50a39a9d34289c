package meetingstest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
)

// NoRedirect shows redirects instead of following them and keeps no cookies.
var NoRedirect = &http.Client{Timeout: hubtest.Timeout(20 * time.Second),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Visit makes a request with cookies through NoRedirect and returns the
// response and its body.
func Visit(t testing.TB, method, u string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := NoRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// PassIn returns the cookie named name (a meeting pass: meetings.PassCookie)
// that a response sets, or nil.
func PassIn(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}

// ErrorField returns the field an error answer names.
func ErrorField(t testing.TB, body []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Field, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%v in %q", err, body)
	}
	return e.Error.Field
}

// Void drops an action's value so it can run among other steps.
func Void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
