package meetings

import (
	"net/url"
	"strings"
	"testing"
)

func TestCleanPageURL(t *testing.T) {
	cases := map[string]string{
		"":                                  "/meetings/7",
		"invite=mtg_x":                      "/meetings/7",
		"invite=mtg_x&autojoin=av":          "/meetings/7?autojoin=av",
		"ticket=t&audio=1&autojoin=audio":   "/meetings/7?audio=1&autojoin=audio",
		"invite=a&invite=b&mode=in_hall":    "/meetings/7?mode=in_hall",
		"INVITE=kept&x=%2F%2Fevil.example":  "/meetings/7?INVITE=kept&x=%2F%2Fevil.example",
		"a=1;invite=b&c=2":                  "/meetings/7?c=2",
		"%zz=1&invite=x":                    "/meetings/7",
		"next=https://evil.example&invite=": "/meetings/7?next=https%3A%2F%2Fevil.example",
	}
	for in, want := range cases {
		if got := cleanPageURL("/meetings/7", in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// The URL a page sends the browser to after taking a credential stays on
// the page's own path, carries no credential, and keeps every other pair
// that parses.
func FuzzCleanPageURL(f *testing.F) {
	for _, s := range []string{"", "invite=mtg_abc&autojoin=av", "ticket=x&audio=1", "a=1;b=2", "%", "invite", "&&=&",
		"x=//evil.example", "invite=%00&y=\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		const path = "/meetings/42/paperless"
		got := cleanPageURL(path, raw)
		p, q, _ := strings.Cut(got, "?")
		if p != path {
			t.Fatalf("%q → %q leaves the page", raw, got)
		}
		if strings.ContainsAny(q, "#\r\n ") {
			t.Fatalf("%q → %q: unescaped characters in the query", raw, got)
		}
		out, err := url.ParseQuery(q)
		if err != nil {
			t.Fatalf("%q → %q does not parse again: %v", raw, got, err)
		}
		if out.Has("invite") || out.Has("ticket") {
			t.Fatalf("%q → %q keeps a credential", raw, got)
		}
		in, _ := url.ParseQuery(raw)
		for k, vs := range in {
			if k == "invite" || k == "ticket" {
				continue
			}
			if strings.Join(out[k], "\x00") != strings.Join(vs, "\x00") {
				t.Fatalf("%q → %q lost %s=%v", raw, got, k, vs)
			}
		}
	})
}
