package hub_test

import (
	"testing"

	"github.com/communehub/communehub/hub"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// What one small request costs the hub's HTTP server on a kept-alive
// connection (the server's settings, hub.NewApp), client included: the
// price of returning each connection's read buffer to the pool between
// requests (ReduceMemoryUsage), which idle connections and websockets
// then do not hold.
func BenchmarkKeepAliveRequest(b *testing.B) {
	app := hub.NewApp(hub.AppOptions{})
	app.Post("/x", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
	app.Get("/x", func(c *fiber.Ctx) error { return c.SendString(`{"ok":true}`) })
	client := &fasthttp.HostClient{Addr: serveApp(b, app), MaxConns: 64}
	body := make([]byte, 2048)
	for _, method := range []string{"GET", "POST"} {
		b.Run(method, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for pb.Next() {
					req.Reset()
					req.SetRequestURI("http://" + client.Addr + "/x")
					req.Header.SetMethod(method)
					if method == "POST" {
						req.SetBody(body)
					}
					if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Errorf("request: %v, status %d", err, resp.StatusCode())
						return
					}
				}
			})
		})
	}
}
