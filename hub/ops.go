package hub

import (
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ops are the operations endpoints: /healthz (the process answers),
// /readyz (every readiness check passes, else 503 naming what is down) and
// /metrics. They are served on the main port, and on an operations port of
// their own when one is configured.
type Ops struct {
	Ready   *Readiness
	Metrics *Metrics // nil: no /metrics here
	// Token, when set, is the bearer token /metrics asks for
	// (Authorization: Bearer …); other requests get 401.
	Token string
}

// Mount registers the operations routes on r.
func (o Ops) Mount(r fiber.Router) {
	r.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	r.Get("/readyz", o.readyz)
	if o.Metrics != nil {
		h := adaptor.HTTPHandler(promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{}))
		r.Get("/metrics", o.requireToken, h)
	}
}

func (o Ops) readyz(c *fiber.Ctx) error {
	down := o.Ready.Check(c.UserContext())
	if len(down) > 0 {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "down": down})
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": o.Ready.Names()})
}

// requireToken compares in constant time so the token cannot be guessed
// byte by byte from response times.
func (o Ops) requireToken(c *fiber.Ctx) error {
	if o.Token == "" {
		return c.Next()
	}
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(o.Token)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
		return Errorf(EUnauthorized, "metrics need Authorization: Bearer with the metrics token (COMMUNEHUB_METRICS_TOKEN)")
	}
	return c.Next()
}
