package alerts

import (
	"embed"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the alerts component's schema.
var Migrations = hub.EmbeddedMigrations("alerts", migrationFS)
