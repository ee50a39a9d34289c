// Package backlog owns the operations room's backlog: the procedure
// catalogue (procedures, agencies, holidays and working-day arithmetic in
// Asia/Ho_Chi_Minh), procedure dossiers synced from the one-stop-shop
// software with their status machine, pauses and append-only history,
// incoming and outgoing official documents with their registers, and the
// live Decision 766 indicators per commune and per province.
//
// Every accepted change writes the commune's and province's snapshots
// (commune/{code}/kpi, commune/{code}/backlog, province/{code}/kpi) to the
// outbox in the same transaction; a deadline scheduler republishes them
// when time crosses a deadline with no write. Indicators come from
// aggregates maintained by every write (kpi_daily, kpi_monthly and the fee
// tables) plus the live open set, so a province is answered without
// scanning its dossiers. Formulas and their choices: docs/kpis.md; the
// portal field mapping and endpoints: docs/api.md.
//
// It is built as every feature is (hub/feature.go): New(Config, hub.Deps)
// declares its topics and metrics, Start loads the calendar, the units and
// the catalogue, Mount adds its routes and page, Run runs the deadline
// scheduler. The use cases (upsert.go, importer.go, catalogue.go,
// incoming.go, outgoing.go, the KPI assembly in kpi.go, the scheduler) call
// their entity's storage, one *_store.go each: dossier_store.go (dossiers
// and their history), procedure_store.go, agency_store.go,
// holiday_store.go, incoming_store.go (with the registers),
// outgoing_store.go, aggregate_store.go (the maintained aggregates),
// kpi_store.go (the indicators' batch read) and deadline_store.go (the
// scheduler's reads).
//
// backlog imports hub and never another feature package (devices,
// displays, meetings); others learn about it only through its bus topics.
package backlog
