package media

import (
	"testing"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/meetingstest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// fixture is meetingstest's, with the helpers of media's own tests.
type fixture struct{ *meetingstest.Fixture }

func newFixture(t testing.TB) *fixture { return &fixture{meetingstest.NewFixture(t)} }

var (
	fixtureStart = meetingstest.FixtureStart
	nopLog       = meetingstest.NopLog
	testCore     = meetingstest.NewCore
)
