package devices

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// The device page (/devices/{unit}/{id}): one device's status history,
// telemetry charts, alarms, incidents, parent and children, maintenance
// windows, and a form that edits its meta.

// mountDevicePage adds the device page and the API routes behind it.
func (s *Service) mountDevicePage(api fiber.Router, app *fiber.App, authMW fiber.Handler) {
	api.Get("/devices/:unit/:id/series", hub.RequireRole(), s.handleChart)
	api.Get("/devices/:unit/:id/history", hub.RequireRole(), s.handleHistory)
	api.Patch("/devices/:unit/:id", hub.RequireRole(writers...), s.handleEditMeta)
	app.Get("/devices/:unit/:id", authMW, func(c *fiber.Ctx) error {
		if hub.PrincipalOf(c) == nil {
			return c.Redirect("/login?next=" + url.QueryEscape(c.OriginalURL()))
		}
		b, err := webFS.ReadFile("web/device.html")
		if err != nil {
			return err
		}
		return c.Type("html").Send(b)
	})
}

// knownDevice is deviceParams plus the device itself (404 naming id when
// the hub does not know it).
func (s *Service) knownDevice(c *fiber.Ctx) (DeviceView, error) {
	unit, id, err := s.deviceParams(c)
	if err != nil {
		return DeviceView{}, err
	}
	v, ok := s.st.get(unit, id)
	if !ok {
		return v, &hub.Error{Code: hub.ENotFound, Field: "id", Message: "no device " + id + " in " + unit}
	}
	return v, nil
}

func (s *Service) handleChart(c *fiber.Ctx) error {
	d, err := s.knownDevice(c)
	if err != nil {
		return err
	}
	metric := strings.Clone(c.Query("metric"))
	if !validMetric(metric) {
		return hub.FieldError("metric", "is required: a metric name such as latency_ms")
	}
	if _, ok := d.Metrics[metric]; !ok {
		return &hub.Error{Code: hub.ENotFound, Field: "metric", Message: "device " + d.ID + " does not report " + metric}
	}
	name := c.Query("range", "24h")
	r, ok := chartRangeOf(name)
	if !ok {
		return hub.FieldError("range", "must be one of %s", strings.Join(chartRangeNames, ", "))
	}
	ch, err := queryChart(c.UserContext(), s.pool, d.Unit, d.ID, metric, r, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

// historyLimit bounds each list of the history answer.
const historyLimit = 200

func (s *Service) handleHistory(c *fiber.Ctx) error {
	d, err := s.knownDevice(c)
	if err != nil {
		return err
	}
	days := 30
	if v := c.Query("days"); v != "" {
		if days, err = strconv.Atoi(v); err != nil || days < 1 || days > 730 {
			return hub.FieldError("days", "must be 1–730")
		}
	}
	ctx := c.UserContext()
	since := time.Now().AddDate(0, 0, -days)
	changes, err := queryStatusChanges(ctx, s.pool, d.Unit, d.ID, since, historyLimit)
	if err != nil {
		return err
	}
	alarms, err := queryDeviceAlarms(ctx, s.pool, d.Unit, d.ID, historyLimit)
	if err != nil {
		return err
	}
	incidents, err := queryDeviceIncidents(ctx, s.pool, d.Unit, s.st.lineage(d.Unit, d.ID), historyLimit)
	if err != nil {
		return err
	}
	windows, err := queryDeviceWindows(ctx, s.pool, d.Unit, d.ID, since, historyLimit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"unit": d.Unit, "device": d.ID, "since": since,
		"status": orEmpty(changes), "alarms": orEmpty(alarms), "incidents": orEmpty(incidents), "maintenance": orEmpty(windows)})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// metaEdit is the body of PATCH /api/v1/devices/{unit}/{id}: the fields
// given change, the others stay.
type metaEdit struct {
	Name   *string `json:"name"`
	Kind   *string `json:"kind"`
	IP     *string `json:"ip"`
	Parent *string `json:"parent"`
}

func (s *Service) handleEditMeta(c *fiber.Ctx) error {
	unit, id, err := s.deviceParams(c)
	if err != nil {
		return err
	}
	var req metaEdit
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	v, err := s.st.editMeta(unit, id, req, time.Now())
	if err != nil {
		return err
	}
	// Stored at once under a new reg_rev, so that the other hub instances
	// on the database take it and their copies do not undo it.
	if err := s.storeRegistration(c.UserContext(), unit, id); err != nil {
		return err
	}
	return c.JSON(v)
}
