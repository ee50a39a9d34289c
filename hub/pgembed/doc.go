// Package pgembed runs a private PostgreSQL server for a hub that has none
// reachable: the machine's own PostgreSQL binaries (Debian's postgresql
// package) driven by github.com/fergusstrange/embedded-postgres, with the data
// kept under a directory the caller names so that it survives restarts.
//
// It never downloads binaries. When the process runs as root, the server runs
// as the unprivileged "postgres" user (else "nobody"), because PostgreSQL
// refuses to run as root.
//
// pgembed owns the layout of its directory and the lifetime of the server it
// starts; it imports nothing from CommuneHub.
package pgembed
