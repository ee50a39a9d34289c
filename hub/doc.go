// Package hub is CommuneHub's kernel: the event bus (topics with per-topic
// sequence numbers, bounded subscriber queues), the PostgreSQL pool with
// embedded migrations and the outbox, authentication and roles, the
// administrative units, and the HTTP plumbing every feature shares (error
// mapping, JSON binding, auth middleware, the generic /ws event socket, the
// operations endpoints, HTTP timeouts, the stand-in served while starting)
// and the guarded listener every port (HTTP, MQTT) accepts from.
//
// hub imports no feature package (backlog, devices, displays, meetings);
// features talk to each other only through bus topics. A test enforces this.
//
// Rules every feature follows (feature.go, topics.go):
//   - One seam: New(cfg, hub.Deps) (*Service, error) with cfg already parsed
//     into its types and no I/O or goroutines; Mount(hub.Routes); Run(ctx)
//     error for the workers. Start(ctx) only where the feature must load or
//     connect before it serves.
//   - Every topic a feature publishes belongs to a family it declared in
//     hub.Topics (pattern, kind, who may read it, what a public screen may
//     see); the package exports the constructors and no other package builds
//     its topics from strings. Tests run a strict bus (BusOptions.Strict).
//   - A feature's migrations are embedded and named with EmbeddedMigrations.
package hub
