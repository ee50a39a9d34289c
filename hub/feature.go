package hub

import (
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The seam every feature has, the same shape for each:
//
//	svc, err := feature.New(cfg, deps) // cfg: the feature's own settings, already parsed into their types
//	svc.Mount(routes)                  // its pages, sockets and /api/v1 routes
//	go svc.Run(ctx)                    // its workers, until ctx ends; the error says why it stopped early
//
// New declares the feature's topic families (Deps.Topics) and readiness
// checks, and must not start goroutines; Run starts them and returns when
// they have stopped.

// Deps is what the kernel gives every feature: shared services, never
// settings.
type Deps struct {
	Pool     *pgxpool.Pool
	Bus      *Bus
	Topics   *Topics // where the feature declares what it publishes
	Auth     *Auth
	Units    *Units
	Metrics  *Metrics
	Sockets  *Sockets // websockets, closed with 1001 at shutdown
	Ready    *Readiness
	Guards   *TopicGuards
	Logger   *slog.Logger // already names the component
	Origins  []string     // allowed websocket origins; empty: same host
	Instance string       // this hub instance's id (several instances on one database)
}

// Deps returns the kernel's services for the feature component, its
// logger tagged with it.
func (k *Core) Deps(component string) Deps {
	return Deps{
		Pool: k.Pool, Bus: k.Bus, Topics: k.Topics, Auth: k.Auth, Units: k.Units, Metrics: k.Metrics,
		Sockets: k.Sockets, Ready: k.Ready, Guards: &k.Guards, Logger: k.Logger.With("component", component),
		Origins: k.Origins, Instance: k.Instance,
	}
}

// Routes is where a feature mounts its handlers.
type Routes struct {
	App *fiber.App   // pages, sockets and static files
	API fiber.Router // /api/v1: principals are resolved; each route adds RequireRole
	// Authn resolves the principal (session cookie or bearer token) on a
	// route outside API, such as a page or a socket.
	Authn fiber.Handler
	core  *Core
}

// AllowBody lets requests whose path matches pattern carry up to limit
// bytes (see Core.AllowBody).
func (r Routes) AllowBody(pattern string, limit int) { r.core.AllowBody(pattern, limit) }

// SecureCookies reports whether the cookies a feature sets must carry the
// Secure flag, as the session cookie does (the hub is served over HTTPS).
func (r Routes) SecureCookies() bool { return r.core.Secure }

// Routes returns where features mount, given app and the /api/v1 group
// Mount returned.
func (k *Core) Routes(app *fiber.App, api fiber.Router) Routes {
	return Routes{App: app, API: api, Authn: k.Auth.Middleware(), core: k}
}
