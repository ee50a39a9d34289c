package backlog

import (
	"embed"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the backlog's tables; apply them after hub.Migrations.
var Migrations = hub.EmbeddedMigrations("backlog", migrationFS)
