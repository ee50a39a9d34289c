package meetings_test

import (
	"bytes"
	"testing"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/meetingstest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// fixture is meetingstest's, with the helpers of meetings' own tests.
type fixture struct{ *meetingstest.Fixture }

func newFixture(t testing.TB) *fixture { return &fixture{meetingstest.NewFixture(t)} }

// wsClient is a websocket opened by a test.
type wsClient = meetingstest.WSClient

var (
	fixtureStart = meetingstest.FixtureStart
	nopLog       = meetingstest.NopLog
	testCore     = meetingstest.NewCore
	mustJSON     = meetingstest.MustJSON
)

func bytesReaderOf(b []byte) *bytes.Reader { return bytes.NewReader(b) }
