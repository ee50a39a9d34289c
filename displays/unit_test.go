package displays

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
)

func TestParseClientMsg(t *testing.T) {
	ok := []string{
		`{"type":"hello","token":"chd_abc"}`,
		`{"type":"hello","pair":"0123456789abcdef01234567","resume":{"commune/03244/kpi":3},"epoch":"e1","future":"ignored"}`,
		`{"type":"ping"}`,
		`  {"type":"rendered","seq":12,"layout":"commune","topics":{"commune/03244/kpi":12},"heap":1000,"errors":["x"],"error_count":1} `,
		`{"type":"ack","id":4,"ok":false,"result":"nope"}`,
	}
	for _, s := range ok {
		if _, err := parseClientMsg([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		``:                    "JSON object",
		`null`:                "JSON object",
		`{"type":"hello"`:     "unexpected end",
		`{"type":"hello"} {}`: "data after",
		`{"token":"x"}`:       "field type",
		`{"type":"jump"}`:     `unknown message type "jump"`,
		`{"type":"hello"}`:    "token",
		`{"type":"hello","token":"a","pair":"b"}`:                     "not both",
		`{"type":"hello","pair":"short"}`:                             "field pair",
		`{"type":"hello","token":"a","resume":{"a/#":1}}`:             "invalid topic",
		`{"type":"hello","token":"a","resume":{"a":-1}}`:              "field resume",
		`{"type":"rendered","heap":-5}`:                               "field heap",
		`{"type":"rendered","layout":"x"}`:                            "field layout",
		`{"type":"rendered","errors":"x"}`:                            "field errors",
		`{"type":"ack"}`:                                              "field id",
		`{"type":"hello","token":"` + strings.Repeat("a", 300) + `"}`: "field token",
	}
	for s, want := range bad {
		_, err := parseClientMsg([]byte(s))
		pe, isPE := err.(*protocolError)
		if !isPE || !strings.Contains(pe.Reason, want) {
			t.Errorf("%q: %v, want a protocol error containing %q", s, err, want)
		}
	}
}

// FuzzParseClientMsg: no input panics, and every error is a protocol error
// whose reason fits a close frame.
func FuzzParseClientMsg(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","token":"chd_abc","resume":{"commune/03244/kpi":3},"epoch":"e"}`,
		`{"type":"hello","pair":"0123456789abcdef01234567"}`,
		`{"type":"rendered","seq":12,"layout":"commune","topics":{"x/y":1},"heap":1,"errors":["é\xff"],"error_count":1,"uptime":2.5}`,
		`{"type":"ack","id":1,"ok":true,"result":"r"}`,
		`{"type":"ping"}`, `{"type":7}`, `[]`, `{"type":"hello","resume":{"":1}}`, "\x00", `{"type":"rendered","errors":[1]}`,
		`{"type":"read","n":1234}`, `{"type":"read","n":0}`, `{"type":"read","n":01}`, `{"type":"read","n":99999999999999999999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The read report's fast path agrees with the full decoder on
		// whatever it accepts.
		if fast, ok := parseRead(b); ok {
			full, err := parseClientMsg(b)
			if err != nil || full.Type != msgRead || full.N != fast.N {
				t.Fatalf("parseRead(%q) = n %d; parseClientMsg: %+v, %v", b, fast.N, full, err)
			}
		}
		m, err := parseClientMsg(b)
		if err != nil {
			pe, ok := err.(*protocolError)
			if !ok {
				t.Fatalf("error %T %v is not a protocol error", err, err)
			}
			if len(hub.CloseMessage(4400, pe.Reason)) > 125 {
				t.Fatalf("reason too long for a close frame")
			}
			return
		}
		switch m.Type {
		case msgHello, msgPing, msgRendered, msgAck, msgRead:
		default:
			t.Fatalf("accepted type %q", m.Type)
		}
		for _, e := range m.Errors {
			if len(e) > maxErrorLen {
				t.Fatalf("error string of %d bytes kept", len(e))
			}
		}
	})
}

func TestRedactPublic(t *testing.T) {
	now := time.Now()
	cases := []struct {
		topic  string
		data   any
		keep   []string
		remove []string
	}{
		{"commune/03244/backlog", backlogPayload("03244", now), []string{`"trend"`, `"backlog":12`, `"Đăng ký khai sinh":2`, `"as_of"`},
			[]string{citizen, "H17-", "25/UBND-VP", "UBND tỉnh", "Phòng chống lũ", `"subject"`, `"applicant"`}},
		{"commune/03244/kpi", kpiPayload("03244", 3, 1, 2), []string{`"open":3`, `"on_time_rate"`, `"unit":"03244"`},
			[]string{"Điểm ước tính", "Xã Sáng Nhè"}},
		{"province/11/kpi", provincePayload(now, []map[string]any{{"code": "03244", "name": "Xã Sáng Nhè", "open_overdue": 2}}),
			[]string{`"name":"Xã Sáng Nhè"`, `"open_overdue":2`}, []string{"Tỉnh Điện Biên"}},
		{"commune/03244/devices", devicesPayload("03244", now, 3, 1, 10), []string{`"online":3`, `"latency_ms":{`, `"power_cut":1`},
			[]string{"Mất điện", "Wi-Fi", "router-1"}},
		{"meeting/5", meetingPayload(5, now), []string{`"title":"Kỳ họp thứ 5`, `"question"`, `"yes":17`, `"count":2`},
			[]string{citizen, "Lò Văn Minh", "Chủ tịch"}},
		{"commune/03244/meetings", meetingsPayload("03244", now, 5), []string{`"title":"Kỳ họp thứ 5`, `"starts_at"`}, nil},
		{"something/else", map[string]any{"name": citizen, "n": 1}, []string{`"n":1`}, []string{citizen}},
	}
	for _, tc := range cases {
		raw, _ := json.Marshal(tc.data)
		out := string(redactPublic((&policies{topics: testTopics()}).of(tc.topic), raw))
		for _, k := range tc.keep {
			if !strings.Contains(out, k) {
				t.Errorf("%s: %s missing from %s", tc.topic, k, out)
			}
		}
		for _, r := range tc.remove {
			if strings.Contains(out, r) {
				t.Errorf("%s: %s leaked in %s", tc.topic, r, out)
			}
		}
	}
	if got := string(redactPublic(policyUndeclared, json.RawMessage(`{bad`))); got != "null" {
		t.Errorf("invalid JSON redacted to %s", got)
	}
	if got := string(redactPublic(policyUndeclared, json.RawMessage(`"a string"`))); got != "null" {
		t.Errorf("a bare string redacted to %s", got)
	}
}

func TestScheduleWindows(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, vietnam)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	d := &Display{Layout: LayoutCommune, Schedule: []ScheduleEntry{
		{Days: []int{1, 2, 3, 4, 5}, From: "08:00", To: "11:30", Layout: LayoutMeeting},
		{From: "14:00", To: "15:00", Layout: LayoutProvince},
	}}
	cases := []struct {
		at   string
		want string
		next string
	}{
		{"2026-06-29 07:59", LayoutCommune, "2026-06-29 08:00"}, // Monday
		{"2026-06-29 08:00", LayoutMeeting, "2026-06-29 11:30"},
		{"2026-06-29 11:30", LayoutCommune, "2026-06-29 14:00"},
		{"2026-06-29 14:30", LayoutProvince, "2026-06-29 15:00"},
		{"2026-06-29 16:00", LayoutCommune, ""},
		{"2026-07-04 09:00", LayoutCommune, "2026-07-04 14:00"}, // Saturday: no meeting window
	}
	for _, tc := range cases {
		now := at(tc.at)
		if got := d.effectiveLayout(now); got != tc.want {
			t.Errorf("%s: layout %s, want %s", tc.at, got, tc.want)
		}
		_, next := d.window(now)
		if (tc.next == "") != next.IsZero() || (tc.next != "" && !next.Equal(at(tc.next))) {
			t.Errorf("%s: next change %v, want %s", tc.at, next, tc.next)
		}
	}
	// A manual switch holds until its override ends.
	until := at("2026-06-29 11:30")
	d.Layout, d.OverrideUntil = LayoutProvince, &until
	if got := d.effectiveLayout(at("2026-06-29 09:00")); got != LayoutProvince {
		t.Errorf("override ignored: %s", got)
	}
	if got := d.effectiveLayout(at("2026-06-29 14:30")); got != LayoutProvince {
		t.Errorf("after the override: %s", got)
	}
	for _, bad := range [][]ScheduleEntry{
		{{From: "8:00", To: "09:00", Layout: "commune"}},
		{{From: "08:00", To: "25:00", Layout: "commune"}},
		{{From: "10:00", To: "09:00", Layout: "commune"}},
		{{From: "08:00", To: "09:00", Layout: "disco"}},
		{{Days: []int{0}, From: "08:00", To: "09:00", Layout: "commune"}},
	} {
		if err := checkSchedule(bad, "commune"); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := checkSchedule([]ScheduleEntry{{From: "08:00", To: "09:00", Layout: "meeting"}}, "province"); err == nil {
		t.Errorf("meeting layout on a province screen accepted")
	}
}

func TestCurrentMeetingAndTopics(t *testing.T) {
	ev := func(s string) *hub.Event { return &hub.Event{Data: json.RawMessage(s)} }
	for s, want := range map[string]string{
		`{"now":{"id":12}}`: "12", `{"now":{"id":"m-7"}}`: "m-7", `{"now":null}`: "", `{"now":{"id":"a/b"}}`: "", `{}`: "", `bad`: "",
	} {
		if got := currentMeeting(ev(s)); got != want {
			t.Errorf("%s: %q, want %q", s, got, want)
		}
	}
	latest := func(string) *hub.Event { return ev(`{"now":{"id":12}}`) }
	d := &Display{Scope: "03244", Province: "11", ActiveLayout: LayoutMeeting}
	if got := d.topics(latest, testTopics()); len(got) != 2 || got[1] != "meeting/12" {
		t.Errorf("meeting topics %v", got)
	}
	d.ActiveLayout = LayoutProvince
	if got := d.topics(latest, testTopics()); len(got) != 1 || got[0] != "province/11/kpi" {
		t.Errorf("province topics %v", got)
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"abc-def": "ABCDEF", "k7m 4qx": "K7M4QX", "K7M4QX": "K7M4QX", "K7M4Q0": "", "K7M4Q": ""} {
		got, ok := normalizeCode(in)
		if (want != "") != ok || got != want && ok {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
	for i := 0; i < 100; i++ {
		if _, ok := normalizeCode(newPairingCode()); !ok {
			t.Fatal("a generated code does not normalise")
		}
	}
}

func TestParseStale(t *testing.T) {
	got, err := ParseStale("devices=90s, kpi=0")
	if err != nil || got["devices"] != 90*time.Second || got["kpi"] != 0 || len(got) != 2 {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"devices", "lights=1m", "devices=soon", "devices=-1s"} {
		if _, err := ParseStale(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEventsFrame(t *testing.T) {
	a := (&hub.Event{Topic: "commune/03244/kpi", Seq: 7, Time: time.Unix(0, 0), Data: json.RawMessage(`{"open":3}`)}).Frame()
	b := eventFrame("commune/03244/devices", 2, time.Unix(0, 0), []byte(`{"counts":{"online":1}}`))
	var m struct {
		Type   string
		Seq    uint64
		Events []struct {
			Type, Topic string
			Seq         uint64
			Data        map[string]any
		}
	}
	if err := json.Unmarshal(bytes.Join(eventsMessage(9, [][]byte{a, b}), nil), &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "events" || m.Seq != 9 || len(m.Events) != 2 || m.Events[0].Type != "event" || m.Events[0].Seq != 7 ||
		m.Events[1].Topic != "commune/03244/devices" || m.Events[0].Data["open"] != 3.0 {
		t.Errorf("decoded %+v", m)
	}
}

// aside runs work off the reader's stack; a panic there must reach the
// reader (where the upgrade's recover ends one socket), not end the process.
func TestAsideRaisesPanicOnCaller(t *testing.T) {
	ran := false
	aside(func() { ran = true })
	if !ran {
		t.Fatal("aside returned before f ran")
	}
	defer func() {
		if r := recover(); r != "bad frame" {
			t.Fatalf("recovered %v, want the panic of f", r)
		}
	}()
	aside(func() { panic("bad frame") })
	t.Fatal("aside returned after f panicked")
}

func TestParseRead(t *testing.T) {
	for in, want := range map[string]int64{`{"type":"read","n":0}`: 0, `{"type":"read","n":4096}`: 4096, `{"type":"read","n":999999999999999999}`: 999999999999999999} {
		if m, ok := parseRead([]byte(in)); !ok || m.Type != msgRead || m.N != want {
			t.Errorf("parseRead(%s) = %+v, %v", in, m, ok)
		}
	}
	// Anything else goes to the full decoder (which also refuses what is bad).
	for _, in := range []string{`{"type":"read","n":-1}`, `{"type":"read","n":01}`, `{"type":"read","n":1e3}`, `{"type":"read","n":}`,
		`{"n":1,"type":"read"}`, `{"type":"read","n":1 }`, `{"type":"read","n":1}x`, `{"type":"read","n":9999999999999999999}`} {
		if m, ok := parseRead([]byte(in)); ok {
			t.Errorf("parseRead(%s) took it: %+v", in, m)
		}
	}
}
