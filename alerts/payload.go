package alerts

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The payloads alerts reads, as docs/topics.md describes them: only the
// fields it uses, so that a publisher adding fields changes nothing here.

// unitSnapshot is commune/{code}/devices.
type unitSnapshot struct {
	Unit      string `json:"unit"`
	Incidents []struct {
		ID         string    `json:"id"`
		Kind       string    `json:"kind"`
		Title      string    `json:"title"`
		TitleEN    string    `json:"title_en"`
		RootDevice string    `json:"root_device"`
		Affected   int       `json:"affected"`
		Since      time.Time `json:"since"`
	} `json:"incidents"`
	Alarms []struct {
		ID       string    `json:"id"`
		Device   string    `json:"device"`
		Metric   string    `json:"metric"`
		Severity string    `json:"severity"`
		State    string    `json:"state"`
		Since    time.Time `json:"since"`
		Value    *float64  `json:"value"`
	} `json:"alarms"`
}

// backlogSnapshot is commune/{code}/backlog.
type backlogSnapshot struct {
	Unit     string `json:"unit"`
	Dossiers struct {
		Overdue []struct {
			Code          string    `json:"code"`
			ProcedureName string    `json:"procedure_name"`
			DueAt         time.Time `json:"due_at"`
		} `json:"overdue"`
	} `json:"dossiers"`
}

// incidentSeverity: a power cut or a parent down takes several devices
// with it; one device down or an agent silent is a warning.
func incidentSeverity(kind string) string {
	switch kind {
	case EventPowerCut, EventParentDown:
		return "critical"
	}
	return "warning"
}

func validUnit(u string) bool { return len(u) == 5 && strings.Trim(u, "0123456789") == "" }

// parseDevices returns the events a commune/{code}/devices snapshot
// carries: its open incidents and active alarms.
func parseDevices(data []byte) (unit string, evs []Event, err error) {
	var s unitSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return "", nil, fmt.Errorf("devices snapshot: %w", err)
	}
	if !validUnit(s.Unit) {
		return "", nil, fmt.Errorf("devices snapshot: unit %q", s.Unit)
	}
	for _, in := range s.Incidents {
		if in.ID == "" || len(in.ID) > 200 {
			continue
		}
		kind := in.Kind
		switch kind {
		case EventDeviceDown, EventParentDown, EventPowerCut, EventAgentOffline:
		default:
			kind = EventDeviceDown
		}
		title := in.Title
		if title == "" {
			title = in.RootDevice
		}
		// An incident is known by its root device, not its id: the id
		// changes when devices restarts and reopens it, and one root down
		// twice in a row within RecoverAfter is one occurrence.
		root := in.RootDevice
		if root == "" {
			root = in.ID
		}
		evs = append(evs, Event{Source: "incident:" + s.Unit + ":" + root, Unit: s.Unit, Kind: kind, Severity: incidentSeverity(kind),
			Title: clip(title, 300), TitleEN: clip(in.TitleEN, 300), Since: in.Since})
	}
	for _, a := range s.Alarms {
		if a.ID == "" || len(a.ID) > 200 {
			continue
		}
		kind, sev := EventAlarm, a.Severity
		if a.Device == "broker" {
			kind = EventBrokerDropped
		}
		if severityRank(sev) < 0 {
			sev = "warning"
		}
		val := ""
		if a.Value != nil {
			val = fmt.Sprintf(" = %g", *a.Value)
		}
		evs = append(evs, Event{Source: "alarm:" + a.ID, Unit: s.Unit, Kind: kind, Severity: sev, AlarmID: a.ID,
			Title:   clip(fmt.Sprintf("Cảnh báo %s trên %s%s", a.Metric, a.Device, val), 300),
			TitleEN: clip(fmt.Sprintf("Alarm %s on %s%s", a.Metric, a.Device, val), 300),
			Since:   a.Since, Acked: a.State == "active_ack"})
	}
	return s.Unit, evs, nil
}

// parseBacklog returns the overdue dossiers of a commune/{code}/backlog
// snapshot (its list holds the 20 most overdue).
func parseBacklog(data []byte) (unit string, evs []Event, err error) {
	var s backlogSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return "", nil, fmt.Errorf("backlog snapshot: %w", err)
	}
	if !validUnit(s.Unit) {
		return "", nil, fmt.Errorf("backlog snapshot: unit %q", s.Unit)
	}
	for _, d := range s.Dossiers.Overdue {
		if d.Code == "" || len(d.Code) > 100 {
			continue
		}
		evs = append(evs, Event{Source: "dossier:" + s.Unit + ":" + d.Code, Unit: s.Unit, Kind: EventDossierOverdue, Severity: "warning",
			Title:   clip(fmt.Sprintf("Hồ sơ %s (%s) đã quá hạn", d.Code, d.ProcedureName), 300),
			TitleEN: clip(fmt.Sprintf("Dossier %s (%s) is overdue", d.Code, d.ProcedureName), 300),
			Since:   d.DueAt})
	}
	return s.Unit, evs, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
