package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/communehub/communehub/backlog"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// `communehub import dossiers FILE` reports per row, shows progress, and
// with --atomic commits nothing when a row is bad.
func TestImportDossiersCLI(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	vars := env(map[string]string{"COMMUNEHUB_DATABASE_URL": dbURL, "COMMUNEHUB_LOG_FORMAT": "json", "COMMUNEHUB_DATA_DIR": t.TempDir()})
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := Main(ctx, []string{"migrate"}, vars, nil, &out, &errb); code != 0 {
		t.Fatalf("migrate: %d %s", code, errb.String())
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bl, err := backlog.New(backlog.Config{}, hub.Deps{Pool: pool})
	if err == nil {
		err = bl.Start(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	no, yes := false, true
	if _, _, _, err := bl.PutProcedure(ctx, "1.001193", backlog.ProcedureInput{Name: "Đăng ký khai sinh", OnlineLevel: "full",
		HasFee: &no, RequiresPaperResult: &yes, Deadline: &backlog.Deadline{Value: 1, Unit: "working_day"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "ho-so.csv")
	csv := "MaHoSo,MaTTHC,MaDVHC,TrangThaiHoSo,NgayTiepNhan\nCLI-1,1.001193,03244,2,20260310080000\nCLI-2,1.001193,03244,2,10/03/2026\n"
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM dossiers`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	out.Reset()
	if code := Main(ctx, []string{"import", "dossiers", file, "--atomic"}, vars, nil, &out, &errb); code != 1 {
		t.Fatalf("--atomic with a bad row: exit %d\n%s", code, out.String())
	}
	if n := count(); n != 0 {
		t.Fatalf("--atomic stored %d dossiers", n)
	}
	out.Reset()
	errb.Reset()
	// One row of two is rejected: the good one is stored, and the exit
	// code (1, not 0 and not the usage code 2) tells a script.
	if code := Main(ctx, []string{"import", "dossiers", file}, vars, nil, &out, &errb); code != 1 {
		t.Fatalf("import with a rejected row: exit %d, want 1\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "1 of 2 rows rejected") {
		t.Errorf("stderr lacks \"1 of 2 rows rejected\": %s", errb.String())
	}
	got := out.String()
	for _, want := range []string{"check", "2 rows: 1 created, 0 updated, 0 unchanged, 1 rejected; committed: true",
		"row 2 (line 3) CLI-2: NgayTiepNhan: must be yyyyMMddHHmmss"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := count(); n != 1 {
		t.Errorf("%d dossiers stored, want 1", n)
	}
	var events int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic IN ('commune/03244/kpi','commune/03244/backlog','province/11/kpi')`).Scan(&events)
	if events != 3 {
		t.Errorf("the import wrote %d snapshot events, want 3", events)
	}
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte("MaHoSo,MaTTHC,MaDVHC,TrangThaiHoSo,NgayTiepNhan\nCLI-3,1.001193,03244,2,20260310090000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := Main(ctx, []string{"import", "dossiers", good, "--json"}, vars, nil, &out, &errb); code != 0 {
		t.Errorf("a clean import: exit %d %s", code, errb.String())
	}
	if code := Main(ctx, []string{"import", "dossiers"}, vars, nil, &out, &errb); code != 2 {
		t.Errorf("usage error: exit %d", code)
	}
}
