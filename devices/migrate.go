package devices

import (
	"embed"
	"io/fs"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the devices component's schema.
var Migrations = hub.MigrationSet{Component: "devices", FS: mustSub(migrationFS, "migrations")}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // only on a programming error in the embed pattern
	}
	return s
}
