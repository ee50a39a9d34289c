package hub

import (
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Front lets one HTTP server answer before the app it will serve is wired:
// it serves a stand-in app (see MountUnavailable) and, once Switch hands it
// the full app, that app from the next request on. The server, its listener
// and its limits (timeouts, header size, body limit) stay those of the
// stand-in, so the port never closes in between.
type Front struct {
	standIn *fiber.App
	full    atomic.Pointer[fasthttp.RequestHandler]
}

// NewFront takes over the stand-in app's server handler; serve standIn
// (standIn.Listener) and shut it down as usual.
func NewFront(standIn *fiber.App) *Front {
	f := &Front{standIn: standIn}
	srv := standIn.Server()
	own := srv.Handler
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if h := f.full.Load(); h != nil {
			(*h)(ctx)
			return
		}
		own(ctx)
	}
	return f
}

// Switch serves app from now on. app must be fully wired (routes added):
// its route tree is built here.
func (f *Front) Switch(app *fiber.App) {
	h := app.Handler()
	f.full.Store(&h)
}
