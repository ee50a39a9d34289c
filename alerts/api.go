package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// Mount serves the "Thông báo" page, the acknowledgement links and the
// admin API under /api/v1/alerts.
func (s *Service) Mount(r hub.Routes) {
	s.mountPage(r.App, r.Authn)
	r.App.Get("/alerts/ack/:token", s.handleAckPage)
	r.App.Post("/alerts/ack/:token", s.handleAckLink)
	// Who was told of a commune's open incidents and alarms, for the
	// devices page: technicians read it too. Registered before the admin
	// group, whose middleware covers every path under /alerts.
	r.API.Get("/alerts/notified", hub.RequireRole(hub.RoleAdmin, hub.RoleTechnician), s.handleNotified)
	admin := hub.RequireRole(hub.RoleAdmin)
	api := r.API.Group("/alerts", admin)
	api.Get("/channels", s.handleChannels)
	api.Post("/channels", s.handleSaveChannel)
	api.Put("/channels/:id", s.handleSaveChannel)
	api.Delete("/channels/:id", func(c *fiber.Ctx) error { return s.handleDelete(c, "alert_channels", "channel") })
	api.Post("/channels/:id/test", s.handleTest)
	api.Get("/rules", s.handleRules)
	api.Post("/rules", s.handleSaveRule)
	api.Put("/rules/:id", s.handleSaveRule)
	api.Delete("/rules/:id", func(c *fiber.Ctx) error { return s.handleDelete(c, "alert_rules", "rule") })
	api.Get("/sends", s.handleSends)
}

func pathID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.FieldError("id", "must be a positive integer")
	}
	return id, nil
}

// publicChannel hides the secrets of c's config: each is "" with
// "{field}_set": true when one is stored.
func publicChannel(c Channel) Channel {
	var m map[string]any
	if json.Unmarshal(c.Config, &m) != nil {
		m = map[string]any{}
	}
	for _, f := range secretFields {
		if v, ok := m[f].(string); ok {
			m[f] = ""
			m[f+"_set"] = v != ""
		}
	}
	c.Config, _ = json.Marshal(m)
	return c
}

func (s *Service) handleChannels(c *fiber.Ctx) error {
	list, err := queryChannels(c.UserContext(), s.pool)
	if err != nil {
		return err
	}
	out := make([]Channel, 0, len(list))
	for _, ch := range list {
		out = append(out, publicChannel(ch))
	}
	return c.JSON(fiber.Map{"channels": out, "kinds": []string{KindEmail, KindWebhook, KindTelegram, KindZalo}})
}

// parseChannelBody decodes a channel from the API; a secret left empty
// keeps the stored one (old: the channel being edited, or nil).
func parseChannelBody(body []byte, old *Channel) (Channel, error) {
	var ch Channel
	ch.Enabled, ch.RatePerMin = true, 30
	if err := hub.DecodeJSON(body, &ch); err != nil {
		return ch, err
	}
	ch.Name = strings.TrimSpace(ch.Name)
	if ch.Name == "" || len(ch.Name) > 100 {
		return ch, hub.FieldError("name", "is required (at most 100 bytes)")
	}
	if ch.RatePerMin < 1 || ch.RatePerMin > 10000 {
		return ch, hub.FieldError("rate_per_min", "must be 1–10000 messages a minute")
	}
	var m map[string]any
	if len(ch.Config) == 0 {
		ch.Config = []byte("{}")
	}
	if err := json.Unmarshal(ch.Config, &m); err != nil || m == nil {
		return ch, hub.FieldError("config", "must be an object")
	}
	var oldm map[string]any
	if old != nil && old.Kind == ch.Kind {
		_ = json.Unmarshal(old.Config, &oldm)
	}
	for _, f := range secretFields {
		delete(m, f+"_set")
		if v, _ := m[f].(string); v == "" && oldm[f] != nil {
			m[f] = oldm[f]
		}
	}
	raw, _ := json.Marshal(m)
	cfg, err := ParseChannelConfig(ch.Kind, raw)
	if err != nil {
		return ch, err
	}
	ch.Config, _ = json.Marshal(cfg)
	return ch, nil
}

func (s *Service) handleSaveChannel(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var old *Channel
	var id int64
	if c.Method() == fiber.MethodPut {
		var err error
		if id, err = pathID(c); err != nil {
			return err
		}
		o, err := getChannel(ctx, s.pool, id)
		if err != nil {
			return err
		}
		old = &o
	}
	ch, err := parseChannelBody(c.Body(), old)
	if err != nil {
		return err
	}
	ch.ID = id
	if ch, err = saveChannel(ctx, s.pool, ch); err != nil {
		return err
	}
	if id == 0 {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(publicChannel(ch))
}

func (s *Service) handleDelete(c *fiber.Ctx, table, what string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := deleteRow(c.UserContext(), s.pool, table, what, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type testRequest struct {
	To string `json:"to"`
}

// handleTest queues a test message to one address of the channel; the
// page follows it in the recent sends.
func (s *Service) handleTest(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req testRequest
	if err := hub.BindJSON(c, &req); err != nil {
		return err
	}
	ch, err := getChannel(c.UserContext(), s.pool, id)
	if err != nil {
		return err
	}
	if err := checkAddress(ch.Kind, req.To); err != nil {
		return hub.FieldError("to", "%v", err)
	}
	p := hub.PrincipalOf(c)
	ev := Event{Source: fmt.Sprintf("test:%d:%d", id, time.Now().UnixNano()), Unit: "-", Kind: "test", Severity: "info",
		Title: "Tin nhắn thử từ CommuneHub (" + p.Name + ")", TitleEN: "Test message from CommuneHub (" + p.Name + ")", Since: time.Now()}
	m := s.render(ev, PhaseTest, req.To)
	m.Channel = id
	if err := s.enqueue(c.UserContext(), s.pool, m); err != nil {
		return err
	}
	s.wakeSender()
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"source": ev.Source})
}

func (s *Service) handleRules(c *fiber.Ctx) error {
	list, err := queryRules(c.UserContext(), s.pool)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Rule{}
	}
	return c.JSON(fiber.Map{"rules": list, "kinds": EventKinds, "severities": Severities,
		"escalate_after_s": int(s.cfg.EscalateAfter / time.Second)})
}

// parseRuleBody decodes and checks a rule from the API.
func parseRuleBody(body []byte, channels []Channel) (Rule, error) {
	r := Rule{Enabled: true}
	if err := hub.DecodeJSON(body, &r); err != nil {
		return r, err
	}
	byID := map[int64]Channel{}
	for _, ch := range channels {
		byID[ch.ID] = ch
	}
	return r, r.validate(byID)
}

func (s *Service) handleSaveRule(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var id int64
	if c.Method() == fiber.MethodPut {
		var err error
		if id, err = pathID(c); err != nil {
			return err
		}
	}
	channels, err := queryChannels(ctx, s.pool)
	if err != nil {
		return err
	}
	r, err := parseRuleBody(c.Body(), channels)
	if err != nil {
		return err
	}
	r.ID = id
	if r, err = saveRule(ctx, s.pool, r); err != nil {
		return err
	}
	if id == 0 {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(r)
}

func (s *Service) handleSends(c *fiber.Ctx) error {
	limit := c.QueryInt("limit", 50)
	if limit < 1 || limit > 500 {
		return hub.FieldError("limit", "must be 1–500")
	}
	list, err := querySends(c.UserContext(), s.pool, c.Query("source"), limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Send{}
	}
	return c.JSON(fiber.Map{"sends": list})
}

// handleNotified lists, per open incident or alarm of ?unit= (keyed by
// its source: incident:{unit}:{root device}, alarm:{id}), the messages of
// its current occurrence that were sent: to whom, over what, when.
func (s *Service) handleNotified(c *fiber.Ctx) error {
	unit := c.Query("unit")
	if len(unit) != 5 || strings.Trim(unit, "0123456789") != "" {
		return hub.FieldError("unit", "must be a 5-digit commune code")
	}
	list, err := queryNotified(c.UserContext(), s.pool, unit)
	if err != nil {
		return err
	}
	out := map[string][]Notified{}
	for _, n := range list {
		out[n.Source] = append(out[n.Source], n)
	}
	return c.JSON(fiber.Map{"notified": out})
}

// The acknowledgement link: GET shows what it acknowledges and a button
// (mail scanners and chat previews fetch links; a GET never acts), the
// button POSTs.

func (s *Service) handleAckPage(c *fiber.Ctx) error {
	l, ev, err := s.checkLink(c.UserContext(), c.Params("token"))
	if err != nil {
		return ackHTML(c, hub.HTTPStatus(hub.ErrorCode(err)), "Không xác nhận được / Cannot acknowledge", err.Error(), "")
	}
	return ackHTML(c, 200, "Xác nhận sự cố / Acknowledge", ev.Title+"\n"+ev.TitleEN+"\n("+l.To+")", c.Params("token"))
}

func (s *Service) handleAckLink(c *fiber.Ctx) error {
	by, err := s.ackLink(c.UserContext(), c.Params("token"))
	if err != nil {
		if strings.Contains(c.Get("Accept"), "application/json") {
			return err
		}
		return ackHTML(c, hub.HTTPStatus(hub.ErrorCode(err)), "Không xác nhận được / Cannot acknowledge", err.Error(), "")
	}
	if strings.Contains(c.Get("Accept"), "application/json") {
		return c.JSON(fiber.Map{"acknowledged": true, "by": by})
	}
	return ackHTML(c, 200, "Đã xác nhận / Acknowledged", "Cảm ơn. / Thank you. ("+by+")", "")
}

func ackHTML(c *fiber.Ctx, status int, title, text, token string) error {
	form := ""
	if token != "" {
		form = `<form method="post" action="/alerts/ack/` + html.EscapeString(token) + `"><button type="submit">Xác nhận đã nhận / Acknowledge</button></form>`
	}
	page := `<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>CommuneHub</title><link rel="stylesheet" href="/static/hub/base.css"></head><body><main class="card" style="max-width:40rem;margin:2rem auto">
<h1>` + html.EscapeString(title) + `</h1><p style="white-space:pre-line">` + html.EscapeString(text) + `</p>` + form + `</main></body></html>`
	return c.Status(status).Type("html").SendString(page)
}

// checkLink verifies token and returns its event.
func (s *Service) checkLink(ctx context.Context, token string) (link, Event, error) {
	l, err := parseLink(s.key, token)
	if err != nil {
		return l, Event{}, hub.FieldError("token", "%v", err)
	}
	if !s.now().Before(l.Expires) {
		return l, Event{}, &hub.Error{Code: hub.EForbidden, Field: "token", Message: "the link has expired; acknowledge on the hub's page"}
	}
	i := strings.LastIndexByte(l.Source, '#')
	if i < 0 {
		return l, Event{}, hub.FieldError("token", "%v", errBadLink)
	}
	occ, _ := strconv.Atoi(l.Source[i+1:])
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM alert_events WHERE source=$1 AND occurrence=$2`, l.Source[:i], occ)
	if err != nil {
		return l, Event{}, err
	}
	ev, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, ev, hub.Errorf(hub.ENotFound, "no such incident or alarm")
	}
	return l, ev, err
}

// ackLink acknowledges the event of token once: the alarm through the
// Acker (the devices API's path), the event here; it returns who.
func (s *Service) ackLink(ctx context.Context, token string) (string, error) {
	l, ev, err := s.checkLink(ctx, token)
	if err != nil {
		return "", err
	}
	by := "link:" + l.To
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO alert_used_links(mac, expires_at) VALUES ($1,$2) ON CONFLICT DO NOTHING`, l.MAC, l.Expires)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &hub.Error{Code: hub.EConflict, Field: "token", Message: "this link was used already"}
		}
		if ev.AlarmID != "" && s.acker != nil {
			if err := s.acker.AckAlarm(ctx, ev.AlarmID, by, "acknowledged from a notification"); err != nil && hub.ErrorCode(err) != hub.EConflict {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE alert_events SET acked_at=now(), acked_by=$2 WHERE source=$1 AND occurrence=$3 AND acked_at IS NULL`,
			ev.Source, by, ev.Occurrence)
		return err
	})
	return by, err
}
