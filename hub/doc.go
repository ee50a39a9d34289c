// Package hub is CommuneHub's kernel: the event bus (topics with per-topic
// sequence numbers, bounded subscriber queues), the PostgreSQL pool with
// embedded migrations and the outbox, authentication and roles, the
// administrative units, and the HTTP plumbing every feature shares (error
// mapping, JSON binding, auth middleware, the generic /ws event socket, the
// operations endpoints, HTTP timeouts, the stand-in served while starting)
// and the guarded listener every port (HTTP, MQTT) accepts from.
//
// hub imports no feature package (hub/backlog, devices, displays, meetings);
// features talk to each other only through bus topics. A test enforces this.
package hub
