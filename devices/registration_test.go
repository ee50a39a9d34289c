package devices

import (
	"context"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// A device ignored through one instance's API is ignored on another too,
// and the other's stale copy of the row does not undo it.
func TestRegistrationThroughOneInstanceReachesTheOther(t *testing.T) {
	pool, _ := hubtest.NewDB(t, hub.Migrations, Migrations)
	ctx := context.Background()
	a, pa := lanOnDB(t, pool)
	b, pb := lanOnDB(t, pool)
	stored := func() (reg string) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT registration FROM devices WHERE unit='03244' AND id='pc'`).Scan(&reg); err != nil {
			t.Fatal(err)
		}
		return reg
	}
	a.tele(t0, "pc", map[string]float64{"cpu_pct": 5})
	b.tele(t0, "pc", map[string]float64{"cpu_pct": 5})
	flushAll(t, pa, pb)

	// Ignored through a.
	if _, ok := a.st.setRegistration("03244", "pc", RegIgnored, nil, t0.Add(time.Second)); !ok {
		t.Fatal("no pc on a")
	}
	if err := (&Service{pool: pool, st: a.st}).storeRegistration(ctx, "03244", "pc"); err != nil {
		t.Fatal(err)
	}
	// b, not told yet, writes its row (a status change).
	b.status(t0.Add(2*time.Second), "pc", "online")
	flushAll(t, pb)
	if got := stored(); got != RegIgnored {
		t.Fatalf("b's stale row made the stored registration %q", got)
	}
	// b's sharing round applies it.
	regs, err := readRegistrations(ctx, pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.st.applyRegistrations(regs, t0.Add(3*time.Second))
	if v, ok := b.st.get("03244", "pc"); !ok || v.Registration != RegIgnored {
		t.Fatalf("b shows %+v, want ignored", v)
	}
	if n := b.snap(t0).Devices.Total; n != 0 {
		t.Fatalf("b counts %d devices, want the ignored pc left out", n)
	}
	// Adopted again through b: a's stale copy does not undo that either.
	b.st.setRegistration("03244", "pc", RegRegistered, nil, t0.Add(4*time.Second))
	if err := (&Service{pool: pool, st: b.st}).storeRegistration(ctx, "03244", "pc"); err != nil {
		t.Fatal(err)
	}
	a.st.mu.Lock()
	a.st.persist.device(a.st.communes["03244"].devices["pc"])
	a.st.mu.Unlock()
	flushAll(t, pa)
	if got := stored(); got != RegRegistered {
		t.Fatalf("a's stale row made the stored registration %q", got)
	}
}
