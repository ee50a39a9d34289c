package hub

import (
	"strings"
	"testing"
	"time"
)

func TestParseNotification(t *testing.T) {
	id, ev, ok := parseNotification(`42 7 1765000000123456 commune/03244/kpi {"a": [1, "b c"]}`)
	if !ok || id != 42 || ev == nil || ev.Seq != 7 || ev.Topic != "commune/03244/kpi" ||
		string(ev.Data) != `{"a": [1, "b c"]}` || !ev.Time.Equal(time.UnixMicro(1765000000123456)) {
		t.Fatalf("full payload: %d %+v %v", id, ev, ok)
	}
	if id, ev, ok := parseNotification("42"); !ok || id != 42 || ev != nil {
		t.Fatalf("id payload: %d %+v %v", id, ev, ok)
	}
	for _, bad := range []string{"", "x", "1 2 3", "1 x 3 t {}", "1 2 3 t {", "1 2 3 t"} {
		if _, ev, ok := parseNotification(bad); ok && ev != nil {
			t.Errorf("%q parsed as %+v", bad, ev)
		}
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add(`42 7 1765000000123456 commune/03244/kpi {"a": 1}`)
	f.Add("42")
	f.Fuzz(func(t *testing.T, payload string) {
		_, ev, ok := parseNotification(payload)
		if ok && ev != nil && strings.Contains(ev.Topic, " ") {
			t.Fatalf("topic %q has a space", ev.Topic)
		}
	})
}
