package meetings

import "testing"

func TestPassRules(t *testing.T) {
	tests := []struct {
		name                          string
		rule                          PassRule
		seats, present, yes, no, abst int
		passed                        bool
		needed                        int
	}{
		// The base is all seats, not those present (Law 77/2015 art. 91(3)).
		{"seats: 4 of 7 passes", PassMajorityOfSeats, 7, 7, 4, 3, 0, true, 4},
		{"seats: 3 of 7 fails even if all others abstain", PassMajorityOfSeats, 7, 7, 3, 0, 4, false, 4},
		{"seats: 4 of 7 with only 5 present still passes", PassMajorityOfSeats, 7, 5, 4, 1, 0, true, 4},
		{"seats: unanimous small presence fails", PassMajorityOfSeats, 7, 3, 3, 0, 0, false, 4},
		{"seats: tie of an even council fails", PassMajorityOfSeats, 8, 8, 4, 4, 0, false, 5},
		{"seats: half of an even council is not a majority", PassMajorityOfSeats, 6, 6, 3, 0, 3, false, 4},
		{"seats: one seat", PassMajorityOfSeats, 1, 1, 1, 0, 0, true, 1},
		{"two thirds: 5 of 7 passes", PassTwoThirdsOfSeats, 7, 7, 5, 2, 0, true, 5},
		{"two thirds: 4 of 7 fails", PassTwoThirdsOfSeats, 7, 7, 4, 3, 0, false, 5},
		{"two thirds: exactly 2/3 of 9 passes", PassTwoThirdsOfSeats, 9, 9, 6, 0, 3, true, 6},
		{"present: 3 of 5 present passes", PassMajorityOfPresent, 9, 5, 3, 2, 0, true, 3},
		{"present: tie of those present fails", PassMajorityOfPresent, 9, 6, 3, 3, 0, false, 4},
		{"present: abstentions count against", PassMajorityOfPresent, 9, 6, 3, 0, 3, false, 4},
		{"cast: abstentions count as cast", PassMajorityOfCast, 9, 9, 3, 1, 3, false, 5},
		{"cast: majority of cast", PassMajorityOfCast, 9, 9, 5, 2, 2, true, 5},
		{"cast: tie fails", PassMajorityOfCast, 9, 9, 4, 4, 0, false, 5},
		{"yes>no: abstentions ignored", PassMoreYesThanNo, 9, 9, 2, 1, 6, true, 2},
		{"yes>no: tie fails", PassMoreYesThanNo, 9, 9, 2, 2, 5, false, 3},
		{"yes>no: nobody voted fails", PassMoreYesThanNo, 9, 9, 0, 0, 0, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rule.Evaluate(tt.seats, tt.present, tt.yes, tt.no, tt.abst)
			if got.Passed != tt.passed || got.Needed != tt.needed {
				t.Fatalf("%s(%d seats, %d present, %d/%d/%d) = passed %v needed %d, want %v %d",
					tt.rule, tt.seats, tt.present, tt.yes, tt.no, tt.abst, got.Passed, got.Needed, tt.passed, tt.needed)
			}
			if got.Seats != tt.seats || got.Present != tt.present || got.Yes != tt.yes || got.No != tt.no || got.Abstain != tt.abst {
				t.Fatalf("counts not kept: %+v", got)
			}
		})
	}
}

func TestQuorumRules(t *testing.T) {
	tests := []struct {
		rule           QuorumRule
		seats, present int
		want           bool
	}{
		{QuorumTwoThirdsOfSeats, 7, 5, true},
		{QuorumTwoThirdsOfSeats, 7, 4, false},
		{QuorumTwoThirdsOfSeats, 9, 6, true},
		{QuorumTwoThirdsOfSeats, 6, 4, true},
		{QuorumTwoThirdsOfSeats, 6, 3, false},
		{QuorumMajorityOfSeats, 6, 3, false},
		{QuorumMajorityOfSeats, 6, 4, true},
		{QuorumMajorityOfSeats, 7, 4, true},
		{QuorumNone, 7, 0, true},
	}
	for _, tt := range tests {
		if got := tt.rule.Quorate(tt.seats, tt.present); got != tt.want {
			t.Errorf("%s: %d of %d present = %v, want %v", tt.rule, tt.present, tt.seats, got, tt.want)
		}
	}
}

func TestParseRules(t *testing.T) {
	for _, r := range passRules {
		if got, err := ParsePassRule(string(r)); err != nil || got != r {
			t.Errorf("ParsePassRule(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range quorumRules {
		if got, err := ParseQuorumRule(string(r)); err != nil || got != r {
			t.Errorf("ParseQuorumRule(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := ParsePassRule("half"); err == nil {
		t.Error("ParsePassRule accepted an unknown rule")
	}
	if _, err := ParseQuorumRule(""); err == nil {
		t.Error("ParseQuorumRule accepted an empty rule")
	}
}
