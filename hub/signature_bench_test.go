package hub_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// BenchmarkTokenRequest measures a token's GET /api/v1/me unsigned and
// signed (HMAC check plus the insert into used_signatures), in process,
// against the real database.
func BenchmarkTokenRequest(b *testing.B) {
	pool, _ := hubtest.NewDB(b, hub.Migrations)
	log := slog.New(slog.DiscardHandler)
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	core := &hub.Core{Pool: pool, Bus: hub.NewBus(hub.BusOptions{}), Auth: auth, Units: hub.NewUnits(pool), Metrics: hub.NewMetrics(),
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: log}
	app := hub.NewApp(hub.AppOptions{Logger: log})
	core.Mount(app)
	ctx := context.Background()
	_, plain, _ := auth.CreateToken(ctx, "plain", hub.RoleViewer, "")
	_, signedTok, _ := auth.CreateToken(ctx, "signed", hub.RoleViewer, "s3cret")
	n := 0 // every request differs, across b.N rounds too: a repeat is a replay
	run := func(b *testing.B, sign bool) {
		for range b.N {
			n++
			q := "n=" + strconv.Itoa(n)
			req := httptest.NewRequest("GET", "/api/v1/me?"+q, nil)
			if sign {
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				req.Header.Set("Authorization", "Bearer "+signedTok)
				req.Header.Set("X-Timestamp", ts)
				req.Header.Set("X-Signature", hub.SignRequest("s3cret", "GET", "/api/v1/me", q, ts, nil))
			} else {
				req.Header.Set("Authorization", "Bearer "+plain)
			}
			resp, err := app.Test(req, -1)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%v %v", resp.StatusCode, err)
			}
			resp.Body.Close()
		}
	}
	b.Run("unsigned", func(b *testing.B) { run(b, false) })
	b.Run("signed", func(b *testing.B) { run(b, true) })
}
