// Package devicesim simulates the office LANs of N communes over MQTT:
// a router, a core switch, access switches, access points, cameras, PCs, a
// printer and a UPS per commune, each its own MQTT client with a retained
// last will, publishing meta, status and realistic telemetry. A scenario
// adds outages: an access switch failing (everything behind it goes
// silent), a power cut (the UPS on battery, counting down), a flapping
// access point. It is used by the hub's --demo mode (as goroutines against
// the hub's broker), by cmd/devicesim and by the benchmarks.
//
// devicesim imports paho (it is part of the devices component) and no
// other hub package.
package devicesim
