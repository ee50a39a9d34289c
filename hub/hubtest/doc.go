// Package hubtest holds the helpers every package's tests use to reach real
// infrastructure: PostgreSQL (a fresh, migrated database per test, copied
// from a template built once per set of migrations), Mosquitto (the
// machine's, or a private one per test), Chromium for chromedp, free ports
// and polling for eventual conditions.
//
// Where a piece of infrastructure is missing, a test is skipped with a
// message naming what to install; with CI=true it fails instead, so that CI
// never passes by skipping.
//
// PostgreSQL is found in this order: COMMUNEHUB_TEST_DATABASE_URL; the
// machine's server at 127.0.0.1:5432 (user postgres, trust auth); else an
// embedded server (package pgembed) started once per test binary in one of a
// few slot directories under os.TempDir, reused from run to run. Set
// COMMUNEHUB_TEST_EMBEDDED=1 to skip 127.0.0.1:5432 and use the embedded
// server. A package whose tests use PostgreSQL should have
//
//	func TestMain(m *testing.M) { hubtest.Main(m) }
//
// so that the embedded server stops with the test binary; without it the
// server outlives the binary until the next test binary takes its slot.
//
// Page (NewPage) is a Chromium tab for page tests; Page.Layout checks a
// page as shown: sideways overflow, clipped text and console errors.
//
// Other environment: COMMUNEHUB_TEST_MQTT_ADDR (the broker Mosquitto returns),
// COMMUNEHUB_CHROMIUM (the browser Chromium returns).
//
// hubtest is imported by tests only. It imports hub and hub/pgembed, no
// feature package.
package hubtest
