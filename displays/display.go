package displays

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
)

// Layouts.
const (
	LayoutCommune  = "commune"  // one commune's wall: dossiers, documents, devices, meetings
	LayoutProvince = "province" // the province's communes ranked by overdue and on-time rate
	LayoutMeeting  = "meeting"  // the meeting in progress in the room
)

// Classifications.
const (
	Public   = "public"   // lobby: aggregates only, enforced by the hub
	Internal = "internal" // back office: everything
)

func validLayout(l string) bool {
	return l == LayoutCommune || l == LayoutProvince || l == LayoutMeeting
}

// vietnam is the time zone of schedules and of the wall's clock (no DST).
var vietnam = time.FixedZone("ICT", 7*3600)

// Display is one paired screen's configuration.
type Display struct {
	ID             int64           `json:"id"`
	Name           string          `json:"name"`
	Scope          string          `json:"scope"`       // commune or province code
	ScopeName      string          `json:"scope_name"`  // its name
	ScopeLevel     string          `json:"scope_level"` // "commune" or "province"
	Province       string          `json:"province"`    // the scope's province code
	Layout         string          `json:"layout"`      // chosen layout
	ActiveLayout   string          `json:"active_layout"`
	Classification string          `json:"classification"`
	Lang           string          `json:"lang"` // "vi" or "en"
	Schedule       []ScheduleEntry `json:"schedule"`
	OverrideUntil  *time.Time      `json:"override_until,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	RevokedAt      *time.Time      `json:"revoked_at,omitempty"`
}

// ScheduleEntry switches a screen to Layout between From and To (Vietnam
// time, "HH:MM", From < To) on Days (ISO weekdays 1=Monday…7=Sunday; empty:
// every day).
type ScheduleEntry struct {
	Days   []int  `json:"days,omitempty"`
	From   string `json:"from"`
	To     string `json:"to"`
	Layout string `json:"layout"`
}

// minutes parses "HH:MM".
func minutes(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

func checkSchedule(s []ScheduleEntry, scopeLevel string) error {
	if len(s) > 20 {
		return hub.FieldError("schedule", "at most 20 entries")
	}
	for i, e := range s {
		f := func(name string) string { return fmt.Sprintf("schedule[%d].%s", i, name) }
		from, ok1 := minutes(e.From)
		to, ok2 := minutes(e.To)
		switch {
		case !ok1:
			return hub.FieldError(f("from"), "must be HH:MM")
		case !ok2:
			return hub.FieldError(f("to"), "must be HH:MM")
		case from >= to:
			return hub.FieldError(f("to"), "must be after from (split a window that crosses midnight in two)")
		}
		if err := checkLayout(e.Layout, scopeLevel); err != nil {
			err.Field = f("layout")
			return err
		}
		for _, d := range e.Days {
			if d < 1 || d > 7 {
				return hub.FieldError(f("days"), "weekdays are 1 (Monday) to 7 (Sunday)")
			}
		}
	}
	return nil
}

// checkLayout says whether layout suits a scope of the given level: a
// province screen shows the province layout only; a commune screen shows
// any (its province layout is its province's).
func checkLayout(layout, scopeLevel string) *hub.Error {
	if !validLayout(layout) {
		return hub.FieldError("layout", "unknown layout %q (accepted: commune, province, meeting)", layout)
	}
	if scopeLevel == "province" && layout != LayoutProvince {
		return &hub.Error{Code: hub.EUnprocessable, Field: "layout", Message: fmt.Sprintf("a province screen shows the province layout, not %q", layout)}
	}
	return nil
}

// window returns the schedule entry in effect at t, if any, and when the
// layout next changes (the end of that entry, or the start of the next one
// today; zero when nothing else happens today).
func (d *Display) window(t time.Time) (cur *ScheduleEntry, next time.Time) {
	t = t.In(vietnam)
	day := int(t.Weekday())
	if day == 0 {
		day = 7
	}
	now := t.Hour()*60 + t.Minute()
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, vietnam)
	at := func(m int) time.Time { return midnight.Add(time.Duration(m) * time.Minute) }
	for i := range d.Schedule {
		e := &d.Schedule[i]
		if len(e.Days) > 0 && !containsInt(e.Days, day) {
			continue
		}
		from, _ := minutes(e.From)
		to, _ := minutes(e.To)
		switch {
		case from <= now && now < to:
			if cur == nil {
				cur = e
				next = at(to)
			}
		case from > now && (next.IsZero() || at(from).Before(next)) && cur == nil:
			next = at(from)
		}
	}
	return cur, next
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// effectiveLayout is the layout a screen shows at t: the chosen layout while
// a manual switch holds (until OverrideUntil), else the schedule's, else the
// chosen one.
func (d *Display) effectiveLayout(t time.Time) string {
	if d.OverrideUntil != nil && t.Before(*d.OverrideUntil) {
		return d.Layout
	}
	if e, _ := d.window(t); e != nil {
		return e.Layout
	}
	return d.Layout
}

// topics returns the data topics of the display's active layout, from
// the families their publishers declared in tp (New checked that each kind
// is). latest gives a topic's current value (to follow the meeting in
// progress).
func (d *Display) topics(latest func(string) *hub.Event, tp *hub.Topics) []string {
	topic := func(kind, arg string) string {
		f, _ := tp.Kind(kind)
		return f.Topic(arg)
	}
	switch d.ActiveLayout {
	case LayoutProvince:
		return []string{topic("province_kpi", d.Province)}
	case LayoutMeeting:
		t := []string{topic("meetings", d.Scope)}
		if id := currentMeeting(latest(t[0])); id != "" {
			t = append(t, topic("meeting", id))
		}
		return t
	default:
		return []string{topic("kpi", d.Scope), topic("backlog", d.Scope), topic("devices", d.Scope), topic("meetings", d.Scope)}
	}
}

// currentMeeting returns the id of the meeting in progress from a
// commune/{code}/meetings event, or "" (also when it is not one topic
// segment).
func currentMeeting(ev *hub.Event) string {
	if ev == nil {
		return ""
	}
	var v struct {
		Now *struct {
			ID json.RawMessage `json:"id"`
		} `json:"now"`
	}
	if json.Unmarshal(ev.Data, &v) != nil || v.Now == nil || len(v.Now.ID) == 0 {
		return ""
	}
	var id string
	if json.Unmarshal(v.Now.ID, &id) != nil {
		id = string(v.Now.ID) // a number
	}
	if !hub.ValidTopic(id) || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// Command is a remote command to one screen.
type Command struct {
	ID        int64           `json:"id"`
	DisplayID int64           `json:"display_id"`
	Command   string          `json:"command"` // reload, identify, layout
	Args      json.RawMessage `json:"args,omitempty"`
	CreatedBy string          `json:"created_by,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	AckedAt   *time.Time      `json:"acked_at,omitempty"`
	OK        *bool           `json:"ok,omitempty"`
	Result    string          `json:"result,omitempty"`
}

// Commands.
const (
	CmdReload   = "reload"   // reload the page
	CmdIdentify = "identify" // show the screen's name in big letters
	CmdLayout   = "layout"   // switch layout (args {"layout": …})
)

// commandTTL is how long an unacknowledged command is delivered to a screen
// that (re)connects; older ones are dropped, so a screen that was off does
// not reload or flash its name hours later.
const commandTTL = 2 * time.Minute
