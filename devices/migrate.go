package devices

import (
	"embed"

	"github.com/communehub/communehub/hub"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the devices component's schema.
var Migrations = hub.EmbeddedMigrations("devices", migrationFS)
