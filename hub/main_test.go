package hub_test

import (
	"testing"

	"github.com/communehub/communehub/hub/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }
