package backlog

import (
	"encoding/json"
	"testing"
)

// Rates and averages are served at their precision, without float noise:
// 43/78 is 0.5513 (55.13 %), 7/3 days 2.33.
func TestIndicatorPrecision(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{Rate{43, 78}, `{"num":43,"den":78,"value":0.5513}`},
		{Rate{1, 3}, `{"num":1,"den":3,"value":0.3333}`},
		{Rate{3, 10}, `{"num":3,"den":10,"value":0.3}`},
		{Rate{0, 0}, `{"num":0,"den":0,"value":null}`},
		{Average{7.0 / 3 * 3, 3}, `{"num":7,"den":3,"value":2.33}`},
		{Average{0.1 + 0.2, 1}, `{"num":0.3,"den":1,"value":0.3}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%+v: %s %v, want %s", c.v, b, err, c.want)
		}
	}
}
