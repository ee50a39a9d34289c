package displays

import (
	"embed"
	"io/fs"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the displays tables (displays, pairings, commands, status).
var Migrations = hub.MigrationSet{Component: "displays", FS: mustSub(migrationsFS, "migrations")}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return s
}
