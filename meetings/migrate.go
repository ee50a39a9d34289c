package meetings

import (
	"embed"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the meetings tables; apply after hub.Migrations.
var Migrations = hub.EmbeddedMigrations("meetings", migrationFS)
