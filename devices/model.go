package devices

import "time"

// Device statuses, as the API and the bus show them.
const (
	StatusOnline       = "online"
	StatusOffline      = "offline"
	StatusUnreachable  = "unreachable" // a parent is down
	StatusUnknown      = "unknown"     // no data yet, or its agent is offline
	StatusFlapping     = "flapping"    // ≥ 4 changes in 10 minutes
	StatusUnregistered = "unregistered"
)

// Registration of a device: unregistered devices appeared on their own
// (telemetry without meta, Telegraf targets) until a technician adopts or
// ignores them. Ignored devices are not stored, listed or counted.
const (
	RegRegistered   = "registered"
	RegUnregistered = "unregistered"
	RegIgnored      = "ignored"
)

// Alarm states: active-unacknowledged → active-acknowledged → cleared.
const (
	AlarmActiveUnack = "active_unack"
	AlarmActiveAck   = "active_ack"
	AlarmCleared     = "cleared"
)

// Incident kinds.
const (
	IncidentDeviceDown   = "device_down"
	IncidentParentDown   = "parent_down"
	IncidentPowerCut     = "power_cut"
	IncidentAgentOffline = "agent_offline"
)

// DeviceView is a device as GET /api/v1/devices lists it.
type DeviceView struct {
	ID           string             `json:"id"`
	Unit         string             `json:"unit"`
	Name         string             `json:"name"`
	Kind         string             `json:"kind"`
	IP           string             `json:"ip"`
	MAC          string             `json:"mac"`
	Location     string             `json:"location"`
	Parent       string             `json:"parent"`
	Agent        string             `json:"agent,omitempty"`
	Registration string             `json:"registration"`
	Status       string             `json:"status"`
	Reason       string             `json:"reason,omitempty"` // e.g. "parent switch-core down", "agent offline"
	LastSeen     *time.Time         `json:"last_seen"`
	IntervalS    int                `json:"interval_s"`
	Maintenance  bool               `json:"maintenance"`
	Metrics      map[string]float64 `json:"metrics"`
}

// Incident is one problem shown once, whatever number of devices it hides.
type Incident struct {
	ID         string     `json:"id"`
	Unit       string     `json:"unit"`
	Kind       string     `json:"kind"`
	Title      string     `json:"title"`    // Vietnamese
	TitleEN    string     `json:"title_en"` // English
	RootDevice string     `json:"root_device"`
	RootName   string     `json:"root_name"`
	Affected   int        `json:"affected"`
	Since      time.Time  `json:"since"`
	UPSMinutes *float64   `json:"ups_minutes"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
}

// Alarm is a rule's threshold crossed for its duration on one device.
type Alarm struct {
	ID         string     `json:"id"`
	Unit       string     `json:"unit"`
	Device     string     `json:"device"`
	RuleID     int64      `json:"rule_id"`
	Metric     string     `json:"metric"`
	Severity   string     `json:"severity"`
	State      string     `json:"state"`
	Value      float64    `json:"value"`
	Since      time.Time  `json:"since"`
	ClearedAt  *time.Time `json:"cleared_at"`
	AckedBy    *string    `json:"acked_by"`
	AckedAt    *time.Time `json:"acked_at"`
	AckComment *string    `json:"ack_comment"`
}

// Rule is an alarm rule: metric op threshold for for_s seconds raises an
// alarm; it clears when the value passes clear_threshold the other way.
type Rule struct {
	ID             int64   `json:"id"`
	Unit           *string `json:"unit"`
	Device         *string `json:"device"`
	Kind           *string `json:"kind"`
	Metric         string  `json:"metric"`
	Op             string  `json:"op"`
	Threshold      float64 `json:"threshold"`
	ClearThreshold float64 `json:"clear_threshold"`
	ForS           int     `json:"for_s"`
	Severity       string  `json:"severity"`
	Enabled        bool    `json:"enabled"`
}

// Window is a maintenance window: alarms and incidents of the unit (or of
// one device) are muted while it lasts; data is still collected.
type Window struct {
	ID        int64     `json:"id"`
	Unit      string    `json:"unit"`
	Device    *string   `json:"device"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
}

// Counts is the number of devices per status in a commune.
type Counts struct {
	Online       int `json:"online"`
	Offline      int `json:"offline"`
	Unreachable  int `json:"unreachable"`
	Unknown      int `json:"unknown"`
	Flapping     int `json:"flapping"`
	Unregistered int `json:"unregistered"`
}

// Snapshot is the data of bus topic commune/{code}/devices (see docs/topics.md).
// It stays small on purpose: the bus keeps the last events of every topic,
// so a per-device list here would cost hundreds of bytes × devices × the
// kept events × communes. Per-device state is GET /api/v1/devices.
type Snapshot struct {
	Unit      string         `json:"unit"`
	AsOf      time.Time      `json:"as_of"`
	Counts    Counts         `json:"counts"`
	Incidents []Incident     `json:"incidents"`
	Alarms    []AlarmBrief   `json:"alarms"`
	Broker    BrokerInfo     `json:"broker"`
	Devices   DevicesSummary `json:"devices"`
}

// AlarmBrief is an active alarm on the wall.
type AlarmBrief struct {
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	Metric   string    `json:"metric"`
	Severity string    `json:"severity"`
	State    string    `json:"state"`
	Since    time.Time `json:"since"`
	Value    float64   `json:"value"`
}

// BrokerInfo is the health of the MQTT path: messages the broker dropped
// (its $SYS counter), messages the hub could not store, and whether the
// hub is connected.
type BrokerInfo struct {
	Dropped   int64 `json:"dropped"`
	Lost      int64 `json:"lost"`
	Connected bool  `json:"connected"`
}

// DevicesSummary is what the wall shows beyond the counts: how many devices,
// when the commune's LAN was last heard from (data age), and latency and
// loss over the devices that are up and report them.
type DevicesSummary struct {
	Total       int        `json:"total"`
	LastSeen    *time.Time `json:"last_seen"`
	LatencyMS   *Stat      `json:"latency_ms"`
	LossPct     *Stat      `json:"loss_pct"`
	Maintenance int        `json:"maintenance"`
}

// Stat is an average and a maximum.
type Stat struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}
