// Package devices collects a commune office's LAN over MQTT: it ingests
// status, meta and telemetry (native JSON or Telegraf JSON) from an external
// broker through paho or from the embedded mochi broker's hooks, stores
// telemetry in PostgreSQL in batches, keeps every device's status in memory
// (online, offline, unreachable behind a failed parent, unknown behind an
// offline agent, flapping, unregistered), derives incidents (root cause,
// power cut) and alarms, and publishes commune/{code}/devices on the bus.
//
// devices is the only package that imports paho.mqtt.golang and
// mochi-mqtt. It imports the kernel (hub) and no other feature package
// (displays, meetings, backlog); other features see devices only
// through the bus topic.
package devices
