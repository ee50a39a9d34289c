package deadline

import (
	"testing"
	"time"
)

func TestParseFactor(t *testing.T) {
	for in, want := range map[string]float64{"": 1, "3": 3, "2.5": 2.5, "0.5": 1, "-2": 1, "x": 1, "NaN": 1, "1e9": 1} {
		if got := parseFactor(in); got != want {
			t.Errorf("parseFactor(%q) = %v, want %v", in, got, want)
		}
	}
	if got := Timeout(2 * time.Second); got != time.Duration(float64(2*time.Second)*Factor()) {
		t.Fatalf("Timeout(2s) = %v with factor %v", got, Factor())
	}
}
