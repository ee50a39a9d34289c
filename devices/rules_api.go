package devices

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
)

// Editing alarm rules and maintenance windows: the rules page sends the
// same bodies to POST (create) and PUT (replace), and both are checked by
// one function per kind, so that a field's message is the same whichever
// way the technician came. Each error names its field, which the page
// shows next to it.

// checkRule validates a rule as POST and PUT /api/v1/alarm-rules take it.
func (s *Service) checkRule(r Rule) error {
	switch {
	case r.Unit != nil && s.bodyUnit("unit", *r.Unit) != nil:
		return s.bodyUnit("unit", *r.Unit)
	case r.Device != nil && !validID(*r.Device):
		return hub.FieldError("device", "must be a device id")
	case r.Kind != nil && !deviceKinds[*r.Kind]:
		return hub.FieldError("kind", "must be a device kind")
	case !validMetric(r.Metric):
		return hub.FieldError("metric", "is required")
	case r.Op != ">" && r.Op != "<":
		return hub.FieldError("op", `must be ">" or "<"`)
	case r.Op == ">" && r.ClearThreshold > r.Threshold, r.Op == "<" && r.ClearThreshold < r.Threshold:
		return hub.FieldError("clear_threshold", "must be on the healthy side of threshold (hysteresis)")
	case r.ForS < 0 || r.ForS > 86400:
		return hub.FieldError("for_s", "must be 0–86400")
	}
	switch r.Severity {
	case "critical", "major", "minor", "warning":
	default:
		return hub.FieldError("severity", "must be critical, major, minor or warning")
	}
	return nil
}

// checkWindow validates a maintenance window as POST and PUT
// /api/v1/maintenance take it.
func (s *Service) checkWindow(req windowRequest) error {
	switch {
	case s.bodyUnit("unit", req.Unit) != nil:
		return s.bodyUnit("unit", req.Unit)
	case req.Device != nil && !validID(*req.Device):
		return hub.FieldError("device", "must be a device id")
	case req.StartsAt.IsZero():
		return hub.FieldError("starts_at", "is required (RFC 3339)")
	case !req.EndsAt.After(req.StartsAt):
		return hub.FieldError("ends_at", "must be after starts_at")
	case req.EndsAt.Sub(req.StartsAt) > 31*24*time.Hour:
		return hub.FieldError("ends_at", "a window lasts at most 31 days")
	case len(req.Reason) > 500:
		return hub.FieldError("reason", "at most 500 bytes")
	}
	return nil
}

func idParam(c *fiber.Ctx, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, hub.FieldError("id", "must be %s id", what)
	}
	return id, nil
}

// handleUpdateRule replaces a rule (PUT /api/v1/alarm-rules/{id}); an
// "id" in the body is ignored, the path names the rule.
func (s *Service) handleUpdateRule(c *fiber.Ctx) error {
	id, err := idParam(c, "a rule")
	if err != nil {
		return err
	}
	var r Rule
	r.Enabled = true
	if err := hub.BindJSON(c, &r); err != nil {
		return err
	}
	r.ID = id
	if err := s.checkRule(r); err != nil {
		return err
	}
	if err := updateRule(c.UserContext(), s.pool, r); err != nil {
		return err
	}
	if err := s.reloadRules(c.UserContext()); err != nil {
		return err
	}
	return c.JSON(r)
}

// handleUpdateWindow replaces a maintenance window (PUT
// /api/v1/maintenance/{id}); who made it is kept.
func (s *Service) handleUpdateWindow(c *fiber.Ctx) error {
	id, err := idParam(c, "a window")
	if err != nil {
		return err
	}
	var req windowRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	if err := s.checkWindow(req); err != nil {
		return err
	}
	w, err := updateWindow(c.UserContext(), s.pool, Window{ID: id, Unit: req.Unit, Device: req.Device,
		StartsAt: req.StartsAt, EndsAt: req.EndsAt, Reason: req.Reason})
	if err != nil {
		return err
	}
	if err := s.reloadRules(c.UserContext()); err != nil {
		return err
	}
	return c.JSON(w)
}

// handleDeleteWindow ends a maintenance window by removing it.
func (s *Service) handleDeleteWindow(c *fiber.Ctx) error {
	id, err := idParam(c, "a window")
	if err != nil {
		return err
	}
	if err := deleteWindow(c.UserContext(), s.pool, id); err != nil {
		return err
	}
	if err := s.reloadRules(c.UserContext()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func updateRule(ctx context.Context, pool *pgxpool.Pool, r Rule) error {
	tag, err := pool.Exec(ctx, `UPDATE alarm_rules SET unit=$2, device=$3, kind=$4, metric=$5, op=$6, threshold=$7,
		clear_threshold=$8, for_s=$9, severity=$10, enabled=$11 WHERE id=$1`, r.ID, r.Unit, r.Device, r.Kind, r.Metric, r.Op,
		r.Threshold, r.ClearThreshold, r.ForS, r.Severity, r.Enabled)
	if err == nil && tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no alarm rule %d", r.ID)
	}
	return err
}

func updateWindow(ctx context.Context, pool *pgxpool.Pool, w Window) (Window, error) {
	err := pool.QueryRow(ctx, `UPDATE maintenance_windows SET unit=$2, device=$3, starts_at=$4, ends_at=$5, reason=$6
		WHERE id=$1 RETURNING created_by`, w.ID, w.Unit, w.Device, w.StartsAt, w.EndsAt, w.Reason).Scan(&w.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, hub.Errorf(hub.ENotFound, "no maintenance window %d", w.ID)
	}
	return w, err
}

func deleteWindow(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	tag, err := pool.Exec(ctx, `DELETE FROM maintenance_windows WHERE id=$1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no maintenance window %d", id)
	}
	return err
}
