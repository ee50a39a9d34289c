package hub

import (
	"embed"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed web
var webFS embed.FS

// Core is the kernel's HTTP surface: health, readiness, metrics, login and
// logout, the current user, users and their audit log (users.go), API
// tokens, admin units and the /ws event socket.
type Core struct {
	Pool    *pgxpool.Pool
	Bus     *Bus
	Auth    *Auth
	Units   *Units
	Metrics *Metrics
	Sockets *Sockets
	Ready   *Readiness
	Logger  *slog.Logger
	Origins []string // allowed websocket origins; empty: same host
	Secure  bool     // session cookie Secure flag
	Guards  TopicGuards
	Topics  *Topics // the declared topic families; nil: none declared, none checked
	// Instance is this hub instance's id (several instances on one database).
	Instance string

	MetricsToken     string // bearer token /metrics asks for; empty: open
	MetricsElsewhere bool   // /metrics is served on the operations port, not here
	// WSRecheck is how often an open /ws socket's credential is checked
	// again (0: 30 s; WSOptions.Recheck).
	WSRecheck time.Duration

	bodyMu     sync.Mutex
	bodyLimits []bodyLimit
}

type bodyLimit struct {
	segs  []string
	limit int
}

// AllowBody lets requests whose path matches pattern carry up to limit
// bytes instead of MaxBody. In pattern, a segment "*" matches any one
// segment, e.g. "/api/v1/meetings/*/documents".
func (k *Core) AllowBody(pattern string, limit int) {
	k.bodyMu.Lock()
	defer k.bodyMu.Unlock()
	k.bodyLimits = append(k.bodyLimits, bodyLimit{segs: strings.Split(strings.Trim(pattern, "/"), "/"), limit: limit})
}

func (k *Core) bodyLimitFor(path string) int {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	k.bodyMu.Lock()
	defer k.bodyMu.Unlock()
next:
	for _, b := range k.bodyLimits {
		if len(b.segs) != len(segs) {
			continue
		}
		for i, s := range b.segs {
			if s != "*" && s != segs[i] {
				continue next
			}
		}
		return b.limit
	}
	return MaxBody
}

// limitBody refuses bodies over the route's limit with 413.
func (k *Core) limitBody(c *fiber.Ctx) error {
	n := c.Request().Header.ContentLength()
	if n < 0 { // chunked: measure what was read
		n = len(c.Request().Body())
	}
	if n > k.bodyLimitFor(c.Path()) {
		return &Error{Code: ETooLarge, Message: "request body too large (limit " + strconv.Itoa(k.bodyLimitFor(c.Path())) + " bytes)"}
	}
	return c.Next()
}

// Mount registers the kernel routes on app and returns the /api/v1 group,
// which already resolves principals; features add routes to it, each with
// RequireRole.
func (k *Core) Mount(app *fiber.App) fiber.Router {
	k.Ops().Mount(app)
	app.Use("/static/hub", filesystem.New(filesystem.Config{Root: HTTPFS(webFS, "web"), MaxAge: 300}))
	app.Get("/login", func(c *fiber.Ctx) error {
		b, _ := webFS.ReadFile("web/login.html")
		return c.Type("html").Send(b)
	})

	api := app.Group("/api/v1", k.limitBody, k.Auth.Middleware())
	api.Post("/login", k.login)
	api.Post("/logout", RequireRole(), k.logout)
	api.Get("/me", RequireRole(), func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		return c.JSON(fiber.Map{"id": p.ID, "name": p.Name, "role": p.Role, "kind": p.Kind, "scope": p.Scope})
	})
	api.Get("/units", RequireRole(), k.Units.handleList)
	api.Get("/units/:code", RequireRole(), k.Units.handleGet)
	api.Get("/tokens", RequireRole(RoleAdmin), k.listTokens)
	api.Post("/tokens", RequireRole(RoleAdmin), k.createToken)
	api.Delete("/tokens/:id", RequireRole(RoleAdmin), k.revokeToken)
	k.mountUsers(app, api)

	app.Get("/ws", append([]fiber.Handler{k.Auth.Middleware()}, EventSocket(WSOptions{
		Bus: k.Bus, Sockets: k.Sockets, Metrics: k.Metrics, Logger: k.Logger, Origins: k.Origins, Guards: &k.Guards,
		Auth: k.Auth, Recheck: k.WSRecheck,
	})...)...)
	return api
}

// Ops returns the operations endpoints the main port serves: /metrics only
// when it has no listener of its own (MetricsElsewhere).
func (k *Core) Ops() Ops {
	o := Ops{Ready: k.Ready, Metrics: k.Metrics, Token: k.MetricsToken}
	if k.MetricsElsewhere {
		o.Metrics = nil
	}
	return o
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (k *Core) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := BindJSON(c, &req); err != nil {
		return err
	}
	if req.Username == "" {
		return FieldError("username", "is required")
	}
	if len(req.Username) > 64 {
		return FieldError("username", "at most 64 characters")
	}
	if req.Password == "" {
		return FieldError("password", "is required")
	}
	token, p, err := k.Auth.throttledLogin(c.UserContext(), req.Username, req.Password, c.IP(), k.Metrics)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == ETooMany {
			if d, ok := e.Details.(map[string]any)["retry_after"].(int); ok {
				c.Set(fiber.HeaderRetryAfter, strconv.Itoa(d))
			}
		}
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: SessionCookie, Value: token, Path: "/", HTTPOnly: true, Secure: k.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Now().Add(k.Auth.cfg.SessionTTL),
	})
	return c.JSON(fiber.Map{"name": p.Name, "role": p.Role})
}

func (k *Core) logout(c *fiber.Ctx) error {
	if v := c.Cookies(SessionCookie); v != "" {
		if err := k.Auth.Logout(c.UserContext(), v); err != nil {
			return err
		}
	}
	c.Cookie(&fiber.Cookie{Name: SessionCookie, Value: "", Path: "/", HTTPOnly: true, Secure: k.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Unix(0, 0), MaxAge: -1})
	return c.SendStatus(fiber.StatusNoContent)
}

type tokenRequest struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Secret string `json:"secret"`
}

func (k *Core) createToken(c *fiber.Ctx) error {
	var req tokenRequest
	if err := BindJSON(c, &req); err != nil {
		return err
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return FieldError("role", "%v", err)
	}
	id, token, err := k.Auth.CreateTokenBy(c.UserContext(), ActorOf(c), req.Name, role, req.Secret)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": id, "name": req.Name, "role": role, "token": token})
}

func (k *Core) listTokens(c *fiber.Ctx) error {
	list, err := k.Auth.ListTokens(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tokens": list})
}

func (k *Core) revokeToken(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return FieldError("id", "must be a token id")
	}
	if err := k.Auth.RevokeTokenBy(c.UserContext(), ActorOf(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
