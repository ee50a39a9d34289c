package backlog

import (
	"embed"
	"io/fs"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the backlog's tables; apply them after hub.Migrations.
var Migrations = hub.MigrationSet{Component: "backlog", FS: func() fs.FS {
	f, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		panic(err) // only on a wrong embed pattern
	}
	return f
}()}
