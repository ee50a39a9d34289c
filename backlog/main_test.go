package backlog

import (
	"context"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// testClock is the shared settable test clock.
type testClock = hubtest.Clock

func newClock(t time.Time) *testClock { return hubtest.NewClock(t) }

// vnt builds a Vietnam time.
func vnt(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, VN) }

// newTestService returns a service on a fresh database with the units
// seeded and a clock set to clock (nil: the real clock).
func newTestService(t testing.TB, clock *testClock) (*Service, *pgxpool.Pool) {
	t.Helper()
	pool, _ := hubtest.NewDB(t, hub.Migrations, Migrations)
	ctx := context.Background()
	if err := hub.SeedUnits(ctx, pool); err != nil {
		t.Fatal(err)
	}
	cfg := Config{}
	if clock != nil {
		cfg.Now = clock.Now
	}
	s, err := New(cfg, hub.Deps{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func boolp(b bool) *bool { return &b }

// putProc registers a procedure or fails the test.
func putProc(t testing.TB, s *Service, code string, fee, paper bool, days int) {
	t.Helper()
	_, _, _, err := s.PutProcedure(context.Background(), code, ProcedureInput{Name: "Thủ tục " + code, OnlineLevel: "full",
		HasFee: &fee, RequiresPaperResult: &paper, Deadline: &Deadline{Value: days, Unit: "working_day"}})
	if err != nil {
		t.Fatal(err)
	}
}
