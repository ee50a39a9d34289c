package displays

import (
	"embed"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the displays tables (displays, pairings, commands, status).
var Migrations = hub.EmbeddedMigrations("displays", migrationsFS)
