package meetings

import (
	"embed"
	"io/fs"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the meetings tables; apply after hub.Migrations.
var Migrations = hub.MigrationSet{Component: "meetings", FS: mustSub(migrationFS, "migrations")}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // only on a programming error in the embed pattern
	}
	return s
}
