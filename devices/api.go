package devices

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// writers may acknowledge alarms, adopt or ignore devices, and edit rules
// and maintenance windows; every authenticated principal reads.
var writers = []hub.Role{hub.RoleTechnician, hub.RoleAdmin}

// Mount adds the API to the /api/v1 router (which resolves principals) and
// the technician page to the app.
func (s *Service) Mount(r hub.Routes) {
	api, app, authMW := r.API, r.App, r.Authn
	api.Get("/devices", hub.RequireRole(), s.handleList)
	api.Get("/devices/snapshot", hub.RequireRole(), s.handleSnapshot)
	api.Get("/devices/:unit/:id", hub.RequireRole(), s.handleGet)
	api.Get("/devices/:unit/:id/telemetry", hub.RequireRole(), s.handleSeries)
	api.Post("/devices/:unit/:id/adopt", hub.RequireRole(writers...), s.handleAdopt)
	api.Post("/devices/:unit/:id/ignore", hub.RequireRole(writers...), s.handleIgnore)
	api.Get("/incidents", hub.RequireRole(), s.handleIncidents)
	api.Get("/alarms", hub.RequireRole(), s.handleAlarms)
	api.Post("/alarms/:id/ack", hub.RequireRole(writers...), s.handleAck)
	api.Get("/alarm-rules", hub.RequireRole(), s.handleRules)
	api.Post("/alarm-rules", hub.RequireRole(writers...), s.handleCreateRule)
	api.Put("/alarm-rules/:id", hub.RequireRole(writers...), s.handleUpdateRule)
	api.Delete("/alarm-rules/:id", hub.RequireRole(writers...), s.handleDeleteRule)
	api.Get("/maintenance", hub.RequireRole(), s.handleWindows)
	api.Post("/maintenance", hub.RequireRole(writers...), s.handleCreateWindow)
	api.Put("/maintenance/:id", hub.RequireRole(writers...), s.handleUpdateWindow)
	api.Delete("/maintenance/:id", hub.RequireRole(writers...), s.handleDeleteWindow)
	api.Get("/ingest", hub.RequireRole(), s.handleIngest)
	api.Get("/device-credentials", hub.RequireRole(writers...), s.handleListCredentials)
	api.Post("/device-credentials", hub.RequireRole(writers...), s.handleCreateCredential)
	api.Delete("/device-credentials/:id", hub.RequireRole(writers...), s.handleRevokeCredential)
	s.mountWorkbench(app, authMW)
	s.mountDevicePage(api, app, authMW)
	s.mountPage(app, authMW)
}

// Fiber's Params and Query point into the request buffer, which is reused
// after the handler returns: every value kept beyond it is cloned.
//
// A well-formed code that is no current commune is a 404 naming the field,
// as on the backlog routes (a unit named in a body is a 422: see bodyUnit).
func (s *Service) unitParam(c *fiber.Ctx, name string, required bool) (string, error) {
	u := strings.Clone(c.Query(name))
	if u == "" && c.Params(name) != "" {
		u = strings.Clone(c.Params(name))
	}
	if u == "" {
		if required {
			return "", hub.FieldError(name, "is required (a 5-digit commune code)")
		}
		return "", nil
	}
	if !validUnit(u) {
		return "", hub.FieldError(name, "must be a 5-digit commune code")
	}
	if !s.knownUnit(u) {
		return "", &hub.Error{Code: hub.ENotFound, Field: name, Message: fmt.Sprintf("no current commune %q", u)}
	}
	return u, nil
}

// bodyUnit checks a unit sent in a request body: malformed is a 400, a
// well-formed code that is no current commune a 422, both naming the field.
func (s *Service) bodyUnit(name, u string) error {
	if !validUnit(u) {
		return hub.FieldError(name, "must be a 5-digit commune code")
	}
	if !s.knownUnit(u) {
		return &hub.Error{Code: hub.EUnprocessable, Field: name, Message: fmt.Sprintf("no current commune %q", u)}
	}
	return nil
}

// knownUnit reports whether u is a current commune. The set is loaded once
// at start (s.in.units is not written after); without administrative units
// in the database any well-formed code is accepted, as by ingest.
func (s *Service) knownUnit(u string) bool {
	return s.in.units == nil || s.in.units[u]
}

func (s *Service) handleList(c *fiber.Ctx) error {
	unit, err := s.unitParam(c, "unit", false)
	if err != nil {
		return err
	}
	list := s.st.list(unit, c.QueryBool("ignored"))
	if list == nil {
		list = []DeviceView{}
	}
	return c.JSON(fiber.Map{"unit": unit, "devices": list})
}

// handleSnapshot returns the current commune/{unit}/devices data, for a
// page that subscribes to the topic and needs the state before the next event.
func (s *Service) handleSnapshot(c *fiber.Ctx) error {
	unit, err := s.unitParam(c, "unit", true)
	if err != nil {
		return err
	}
	return c.JSON(s.st.snapshot(unit, time.Now()))
}

func (s *Service) deviceParams(c *fiber.Ctx) (string, string, error) {
	unit, err := s.unitParam(c, "unit", true)
	if err != nil {
		return "", "", err
	}
	id := strings.Clone(c.Params("id"))
	if !validID(id) {
		return "", "", hub.FieldError("id", "must be a device id (A-Z a-z 0-9 _ . -)")
	}
	return unit, id, nil
}

func (s *Service) handleGet(c *fiber.Ctx) error {
	unit, id, err := s.deviceParams(c)
	if err != nil {
		return err
	}
	v, ok := s.st.get(unit, id)
	if !ok {
		return hub.Errorf(hub.ENotFound, "no device %s in %s", id, unit)
	}
	return c.JSON(v)
}

func parseTimeParam(c *fiber.Ctx, name string, def time.Time) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(v, "-")); err == nil && strings.HasPrefix(v, "-") {
		return time.Now().Add(-d), nil
	}
	return def, hub.FieldError(name, "must be RFC 3339, unix milliseconds, or a negative duration like -24h")
}

// niceSteps are the steps a chart may ask for; the default picks the
// smallest giving at most 300 points.
var niceSteps = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour}

func (s *Service) handleSeries(c *fiber.Ctx) error {
	unit, id, err := s.deviceParams(c)
	if err != nil {
		return err
	}
	metric := strings.Clone(c.Query("metric"))
	if !validMetric(metric) {
		return hub.FieldError("metric", "is required: a metric name such as latency_ms")
	}
	now := time.Now()
	to, err := parseTimeParam(c, "to", now)
	if err != nil {
		return err
	}
	from, err := parseTimeParam(c, "from", to.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return hub.FieldError("from", "must be before to")
	}
	var step time.Duration
	if v := c.Query("step"); v != "" {
		if step, err = time.ParseDuration(v); err != nil || step < time.Second {
			return hub.FieldError("step", "must be a duration of at least 1s, e.g. 5m")
		}
	} else {
		step = niceSteps[len(niceSteps)-1]
		for _, st := range niceSteps {
			if to.Sub(from)/st <= 300 {
				step = st
				break
			}
		}
	}
	if to.Sub(from)/step > 5000 {
		return hub.FieldError("step", "too small for the range: at most 5000 points")
	}
	pts, source, err := querySeries(c.UserContext(), s.pool, unit, id, metric, from, to, step, now.Add(-s.cfg.RawRetention))
	if err != nil {
		return err
	}
	if pts == nil {
		pts = []Point{}
	}
	return c.JSON(fiber.Map{"unit": unit, "device": id, "metric": metric, "from": from, "to": to,
		"step": step.String(), "source": source, "points": pts})
}

type adoptRequest struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	Location  string `json:"location"`
	Parent    string `json:"parent"`
	IntervalS int    `json:"interval_s"`
}

func (s *Service) handleAdopt(c *fiber.Ctx) error {
	unit, id, err := s.deviceParams(c)
	if err != nil {
		return err
	}
	var req adoptRequest
	if len(c.Body()) > 0 {
		if err := hub.BindJSON(c, &req); err != nil {
			return err
		}
	}
	var meta *Meta
	if req != (adoptRequest{}) {
		m := Meta(req)
		if m.Kind == "" {
			m.Kind = "other"
		}
		if !deviceKinds[m.Kind] {
			return hub.FieldError("kind", "must be one of router, switch, ap, camera, pc, printer, ups, agent, other")
		}
		if m.Parent != "" && !validID(m.Parent) {
			return hub.FieldError("parent", "must be a device id")
		}
		if m.IntervalS < 0 || m.IntervalS > 86400 {
			return hub.FieldError("interval_s", "must be 0–86400")
		}
		if len(m.Name) > maxMetaFieldBytes || len(m.Location) > maxMetaFieldBytes || len(m.IP) > 64 || len(m.MAC) > 64 {
			return hub.FieldError("name", "fields are limited to %d bytes", maxMetaFieldBytes)
		}
		meta = &m
	}
	v, ok := s.st.setRegistration(unit, id, RegRegistered, meta, time.Now())
	if !ok {
		return hub.Errorf(hub.ENotFound, "no device %s in %s", id, unit)
	}
	if err := s.storeRegistration(c.UserContext(), unit, id); err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Service) handleIgnore(c *fiber.Ctx) error {
	unit, id, err := s.deviceParams(c)
	if err != nil {
		return err
	}
	v, ok := s.st.setRegistration(unit, id, RegIgnored, nil, time.Now())
	if !ok {
		return hub.Errorf(hub.ENotFound, "no device %s in %s", id, unit)
	}
	if err := s.storeRegistration(c.UserContext(), unit, id); err != nil {
		return err
	}
	return c.JSON(v)
}

func limitParam(c *fiber.Ctx) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 200, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 5000 {
		return 0, hub.FieldError("limit", "must be 1–5000")
	}
	return n, nil
}

func (s *Service) handleIncidents(c *fiber.Ctx) error {
	unit, err := s.unitParam(c, "unit", false)
	if err != nil {
		return err
	}
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	state := c.Query("state", "open")
	if state != "open" && state != "all" {
		return hub.FieldError("state", "must be open or all")
	}
	var list []Incident
	if state == "open" {
		list = s.st.openIncidents(unit)
	} else if list, err = queryIncidents(c.UserContext(), s.pool, unit, false, limit); err != nil {
		return err
	}
	if list == nil {
		list = []Incident{}
	}
	return c.JSON(fiber.Map{"unit": unit, "incidents": list})
}

func (s *Service) handleAlarms(c *fiber.Ctx) error {
	unit, err := s.unitParam(c, "unit", false)
	if err != nil {
		return err
	}
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	state := c.Query("state", "active")
	switch state {
	case "active", "all", AlarmActiveUnack, AlarmActiveAck, AlarmCleared:
	default:
		return hub.FieldError("state", "must be active, all, active_unack, active_ack or cleared")
	}
	list, err := queryAlarms(c.UserContext(), s.pool, unit, state, limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Alarm{}
	}
	return c.JSON(fiber.Map{"unit": unit, "alarms": list})
}

type ackRequest struct {
	Comment string `json:"comment"`
}

func (s *Service) handleAck(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return hub.FieldError("id", "must be an alarm id")
	}
	var req ackRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if len(req.Comment) > 2000 {
		return hub.FieldError("comment", "at most 2000 bytes")
	}
	p := hub.PrincipalOf(c)
	a, err := ackAlarm(c.UserContext(), s.pool, id, p.Name, req.Comment)
	if err != nil {
		return err
	}
	s.st.ackApplied(a)
	return c.JSON(a)
}

func (s *Service) handleRules(c *fiber.Ctx) error {
	rules, err := queryRules(c.UserContext(), s.pool)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rules": rules})
}

func (s *Service) handleCreateRule(c *fiber.Ctx) error {
	var r Rule
	r.Enabled = true
	if err := hub.BindJSON(c, &r); err != nil {
		return err
	}
	if err := s.checkRule(r); err != nil {
		return err
	}
	r, err := insertRule(c.UserContext(), s.pool, r)
	if err != nil {
		return err
	}
	if err := s.reloadRules(c.UserContext()); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Service) handleDeleteRule(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return hub.FieldError("id", "must be a rule id")
	}
	if err := deleteRule(c.UserContext(), s.pool, id); err != nil {
		return err
	}
	if err := s.reloadRules(c.UserContext()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Service) handleWindows(c *fiber.Ctx) error {
	unit, err := s.unitParam(c, "unit", false)
	if err != nil {
		return err
	}
	list, err := queryWindows(c.UserContext(), s.pool, unit, time.Now())
	if err != nil {
		return err
	}
	if list == nil {
		list = []Window{}
	}
	return c.JSON(fiber.Map{"windows": list})
}

type windowRequest struct {
	Unit     string    `json:"unit"`
	Device   *string   `json:"device"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Reason   string    `json:"reason"`
}

func (s *Service) handleCreateWindow(c *fiber.Ctx) error {
	var req windowRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if err := s.checkWindow(req); err != nil {
		return err
	}
	w, err := insertWindow(c.UserContext(), s.pool, Window{Unit: req.Unit, Device: req.Device, StartsAt: req.StartsAt,
		EndsAt: req.EndsAt, Reason: req.Reason, CreatedBy: hub.PrincipalOf(c).Name})
	if err != nil {
		return err
	}
	if err := s.reloadRules(c.UserContext()); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(w)
}

// IngestStats is the health of the MQTT path, for the technician page.
type IngestStats struct {
	Mode          string           `json:"mode"`
	Connected     bool             `json:"connected"`
	QueueRows     int              `json:"queue_rows"`
	QueueCapacity int              `json:"queue_capacity"`
	Rejected      map[string]int64 `json:"rejected"`
	Lost          int64            `json:"lost"`
	BrokerDropped int64            `json:"broker_dropped"`
	WriterError   string           `json:"writer_error,omitempty"`
}

// Stats returns the ingest health.
func (s *Service) Stats() IngestStats {
	st := IngestStats{Mode: s.mode, QueueRows: s.w.queuedRows(), QueueCapacity: s.w.capRows, Rejected: s.in.rejectCounts()}
	s.st.mu.Lock()
	st.Connected, st.Lost, st.BrokerDropped = s.st.broker.connected, s.st.broker.lost, s.st.broker.last
	s.st.mu.Unlock()
	if err := s.w.health(); err != nil {
		st.WriterError = err.Error()
	}
	return st
}

func (s *Service) handleIngest(c *fiber.Ctx) error { return c.JSON(s.Stats()) }

type credentialRequest struct {
	Unit   string `json:"unit"`
	Device string `json:"device"`
}

// handleCreateCredential makes an embedded-broker login; the password is in
// this response only.
func (s *Service) handleCreateCredential(c *fiber.Ctx) error {
	var req credentialRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if err := s.bodyUnit("unit", req.Unit); err != nil {
		return err
	}
	cred, secret, err := CreateCredential(c.UserContext(), s.pool, req.Unit, req.Device)
	if err != nil {
		return err
	}
	if err := s.auth.reload(c.UserContext()); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"credential": cred, "password": secret,
		"snippets": s.snippets(c, cred, secret)})
}

func (s *Service) handleListCredentials(c *fiber.Ctx) error {
	unit, err := s.unitParam(c, "unit", false)
	if err != nil {
		return err
	}
	list, err := ListCredentials(c.UserContext(), s.pool, unit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Credential{}
	}
	return c.JSON(fiber.Map{"credentials": list})
}

func (s *Service) handleRevokeCredential(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return hub.FieldError("id", "must be a credential id")
	}
	if err := RevokeCredential(c.UserContext(), s.pool, id); err != nil {
		return err
	}
	if err := s.auth.reload(c.UserContext()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
