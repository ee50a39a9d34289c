// Package displays drives the operations-room wall screens: the /ws/display
// websocket (hello, snapshot or in-order replay, per-topic coalescing, byte-
// bounded queues, heartbeats), pairing and display tokens, the per-screen
// scope, layout, schedule and data classification (public screens get
// aggregates only, enforced here in the fan-out), remote commands with
// acknowledgement, the fleet status the admin page shows, and the embedded
// wall, pairing and admin pages (web/).
//
// It reads the data it shows only from bus topics (docs/topics.md): the
// families their publishers declared with public fields (hub.Topics), each
// redacted for public screens by its own declaration, so displays names no
// other feature's topics or payload fields. It imports hub alone: never backlog, devices or meetings. The protocol is
// documented in docs/display-protocol.md.
package displays
