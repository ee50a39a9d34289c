package displays

import (
	"fmt"
	"time"
)

// Payloads shaped as docs/topics.md describes them, as their publishers
// (backlog, devices, meetings) put them on the bus.

func rate(num, den float64) map[string]any {
	var v any
	if den > 0 {
		v = num / den
	}
	return map[string]any{"num": num, "den": den, "value": v}
}

func kpiPayload(unit string, open, overdue, dueSoon int) map[string]any {
	return map[string]any{
		"unit": unit, "level": "commune", "name": "Xã Sáng Nhè", "province": "11",
		"from": "2026-01-01", "to": "2026-06-30", "as_of": "2026-06-30T09:30:00+07:00",
		"dossiers": map[string]any{
			"received": 1108, "open": open, "open_overdue": overdue, "open_due_soon": dueSoon, "finished": 1105 - open,
			"on_time_rate": rate(1052, 1108), "online_rate": rate(900, 1108),
		},
		"documents":       map[string]any{"incoming": 240, "backlog": 12, "overdue": 3, "urgent_breaches": 0},
		"points_estimate": map[string]any{"estimate": true, "note_vi": "Điểm ước tính", "items": map[string]any{}},
	}
}

const citizen = "Nguyễn Thị Hoa"

func backlogPayload(unit string, now time.Time) map[string]any {
	item := func(i int, due time.Time, proc string) map[string]any {
		return map[string]any{
			"code": fmt.Sprintf("000.00.11.H17-260612-%04d", i), "procedure": "1.001612", "procedure_name": proc,
			"status": 4, "received_at": due.Add(-72 * time.Hour).Format(time.RFC3339), "due_at": due.Format(time.RFC3339),
			"paused": false, "subject": "Đăng ký khai sinh cho con của " + citizen, "applicant": citizen,
		}
	}
	trend := make([]map[string]any, 30)
	for i := range trend {
		d := now.AddDate(0, 0, i-29)
		trend[i] = map[string]any{"date": d.Format("2006-01-02"), "received": 4 + (i*7)%9, "finished": 3 + (i*5)%8}
	}
	return map[string]any{
		"unit": unit, "as_of": now.Format(time.RFC3339),
		"dossiers": map[string]any{
			"overdue": []any{item(3, now.Add(-50*time.Hour), "Đăng ký khai sinh"), item(7, now.Add(-26*time.Hour), "Cấp bản sao trích lục hộ tịch"),
				item(9, now.Add(-5*time.Hour), "Đăng ký khai sinh")},
			"due_soon": []any{item(12, now.Add(5*time.Hour), "Chứng thực bản sao"), item(15, now.Add(30*time.Hour), "Đăng ký kết hôn")},
		},
		"documents": map[string]any{
			"backlog": 12,
			"overdue": []any{map[string]any{"id": 42, "number": 118, "book": "Văn bản đến", "code": "25/UBND-VP", "urgency": "khan",
				"deadline": now.Add(-24 * time.Hour).Format(time.RFC3339), "status": "dang_xu_ly", "subject": "Về việc " + citizen, "issuer": "UBND tỉnh"}},
			"urgent": []any{map[string]any{"id": 43, "urgency": "hoa_toc", "code": "31/UBND", "subject": "Phòng chống lũ"}},
		},
		"trend": trend,
	}
}

func devicesPayload(unit string, now time.Time, online, offline int, latency float64) map[string]any {
	devs := []any{}
	for i := 0; i < online; i++ {
		devs = append(devs, map[string]any{"id": fmt.Sprintf("ap-%d", i), "name": fmt.Sprintf("Wi-Fi tầng %d", i+1), "kind": "ap",
			"status": "online", "latency_ms": latency + float64(i), "loss_pct": 0})
	}
	return map[string]any{
		"unit": unit, "as_of": now.Format(time.RFC3339),
		"counts":    map[string]any{"online": online, "offline": offline, "unreachable": 1, "unknown": 0, "flapping": 0, "unregistered": 0},
		"incidents": []any{map[string]any{"id": "inc-1", "kind": "power_cut", "title": "Mất điện nhà văn hoá thôn Sáng Nhè", "root_device": "sw-2", "affected": 3, "since": now.Add(-40 * time.Minute).Format(time.RFC3339), "ups_minutes": 25}},
		"alarms":    []any{map[string]any{"id": "a1", "device": "router-1", "metric": "latency_ms", "severity": "warning", "state": "active", "since": now.Add(-10 * time.Minute).Format(time.RFC3339)}},
		"broker":    map[string]any{"dropped": 0},
		"devices":   devs,
	}
}

func meetingsPayload(unit string, now time.Time, meetingID int64) map[string]any {
	var cur any
	if meetingID != 0 {
		cur = map[string]any{"id": meetingID, "title": "Kỳ họp thứ 5 Hội đồng nhân dân xã", "started_at": now.Add(-35 * time.Minute).Format(time.RFC3339)}
	}
	return map[string]any{
		"unit": unit, "now": cur,
		"next": map[string]any{"id": 99, "title": "Giao ban UBND xã tháng 7", "starts_at": now.Add(26 * time.Hour).Format(time.RFC3339)},
	}
}

func meetingPayload(id int64, now time.Time) map[string]any {
	return map[string]any{
		"id": id, "unit": "03244", "title": "Kỳ họp thứ 5 Hội đồng nhân dân xã", "state": "open",
		"participants": []any{
			map[string]any{"id": 1, "name": "Lò Văn Minh", "position": "Chủ tịch HĐND", "role": "chair", "status": "in_hall"},
			map[string]any{"id": 2, "name": citizen, "position": "Đại biểu", "role": "member", "status": "online"},
		},
		"speaker":     map[string]any{"id": 2, "name": citizen, "since": now.Add(-3 * time.Minute).Format(time.RFC3339)},
		"agenda_item": map[string]any{"id": 11, "position": 3, "title": "Thông qua kế hoạch đầu tư công năm 2027", "of": 6},
		"vote": map[string]any{"id": 5, "question": "Thông qua kế hoạch đầu tư công năm 2027", "secret": false, "open": false,
			"voted": 19, "eligible": 21, "result": map[string]any{"seats": 25, "present": 21, "yes": 17, "no": 2, "abstain": 0, "passed": true, "needed": 13}},
		"quorum": map[string]any{"seats": 25, "present": 21, "rule": "majority", "quorate": true},
		"queue":  []any{},
	}
}

func provincePayload(now time.Time, communes []map[string]any) map[string]any {
	return map[string]any{
		"unit": "11", "level": "province", "name": "Tỉnh Điện Biên", "from": "2026-01-01", "to": now.Format("2006-01-02"),
		"dossiers": map[string]any{"received": 48210, "open": 1312, "open_overdue": 57, "open_due_soon": 140, "finished": 46898,
			"on_time_rate": rate(45112, 46898)},
		"documents": map[string]any{"incoming": 9120, "backlog": 412, "overdue": 31},
		"communes":  communes,
	}
}
