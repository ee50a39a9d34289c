package meetings

import (
	"fmt"
	"strings"
)

// PassRule decides whether a vote passes. The base of the majority is the
// point: Law 77/2015/QH13 art. 91(3) counts the yes votes against the total
// number of seats, not against those present.
type PassRule string

// The pass rules. Ties never pass.
const (
	PassMajorityOfSeats   PassRule = "majority_of_seats"   // yes > seats/2 (default)
	PassTwoThirdsOfSeats  PassRule = "two_thirds_of_seats" // yes ≥ 2/3 of seats
	PassMajorityOfPresent PassRule = "majority_of_present" // yes > present/2
	PassMajorityOfCast    PassRule = "majority_of_cast"    // yes > (yes+no+abstain)/2
	PassMoreYesThanNo     PassRule = "more_yes_than_no"    // yes > no; abstentions do not count
)

var passRules = []PassRule{PassMajorityOfSeats, PassTwoThirdsOfSeats, PassMajorityOfPresent, PassMajorityOfCast, PassMoreYesThanNo}

// QuorumRule decides whether enough seat holders are present to hold a vote.
type QuorumRule string

// The quorum rules.
const (
	QuorumTwoThirdsOfSeats QuorumRule = "two_thirds_of_seats" // present ≥ 2/3 of seats (default)
	QuorumMajorityOfSeats  QuorumRule = "majority_of_seats"   // present > seats/2
	QuorumNone             QuorumRule = "none"
)

var quorumRules = []QuorumRule{QuorumTwoThirdsOfSeats, QuorumMajorityOfSeats, QuorumNone}

// ParsePassRule validates a pass rule name.
func ParsePassRule(s string) (PassRule, error) {
	for _, r := range passRules {
		if PassRule(s) == r {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown pass rule %q (accepted: %s)", s, joinRules(passRules))
}

// ParseQuorumRule validates a quorum rule name.
func ParseQuorumRule(s string) (QuorumRule, error) {
	for _, r := range quorumRules {
		if QuorumRule(s) == r {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown quorum rule %q (accepted: %s)", s, joinRules(quorumRules))
}

func joinRules[T ~string](rs []T) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Quorate reports whether present seat holders reach the quorum of seats.
func (q QuorumRule) Quorate(seats, present int) bool {
	switch q {
	case QuorumNone:
		return true
	case QuorumMajorityOfSeats:
		return 2*present > seats
	default: // QuorumTwoThirdsOfSeats
		return 3*present >= 2*seats
	}
}

// Tally is the count of a vote and its outcome under a rule.
type Tally struct {
	Seats   int  `json:"seats"`
	Present int  `json:"present"`
	Yes     int  `json:"yes"`
	No      int  `json:"no"`
	Abstain int  `json:"abstain"`
	Passed  bool `json:"passed"`
	// Needed is the smallest number of yes votes that would have passed
	// with the same other counts.
	Needed int `json:"needed"`
}

// Evaluate counts a vote under rule r.
func (r PassRule) Evaluate(seats, present, yes, no, abstain int) Tally {
	t := Tally{Seats: seats, Present: present, Yes: yes, No: no, Abstain: abstain}
	t.Needed = r.needed(seats, present, no, abstain)
	t.Passed = yes >= t.Needed
	return t
}

// needed returns the minimum yes count that passes.
func (r PassRule) needed(seats, present, no, abstain int) int {
	switch r {
	case PassTwoThirdsOfSeats:
		return (2*seats + 2) / 3 // ceil(2·seats/3)
	case PassMajorityOfPresent:
		return present/2 + 1
	case PassMajorityOfCast:
		// yes > (yes+no+abstain)/2  ⇔  yes > no+abstain
		return no + abstain + 1
	case PassMoreYesThanNo:
		return no + 1
	default: // PassMajorityOfSeats
		return seats/2 + 1
	}
}
