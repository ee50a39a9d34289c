package backlog

import "time"

// Counters of the maintained aggregates (columns of kpi_daily/kpi_monthly).
// Each write adds its new contribution and subtracts its old one.
const (
	cReceived      = iota // dossiers received (status ∉ {1,3}) on the day
	cOnline               // … online (channel 2) and with an e-result when a paper result is required
	cOnlineRaw            // … online (channel 2)
	cDigitized            // … with digitized inputs and an e-result when one is required
	cSynced               // … synced to the national portal
	cFee                  // … of fee-bearing procedures with a fee > 0
	cPaid                 // … of those, paid online
	cClosed               // dossiers closed (7–10) on the day
	cClosedOnTime         // … on time by the Decision 766 rule
	cFinished             // dossiers finished (9, 10) on the day
	cEarly                // … before the deadline's day
	cOnTime               // … on the deadline's day
	cLate                 // … after the deadline's day
	cSeconds              // … total processing seconds (pauses excluded)
	cEResDen              // … of procedures requiring a paper result
	cERes                 // … of those, with an electronic result
	cSatisfied            // … not late and without a negative rating
	cDIn                  // incoming documents received on the day
	cDInElectronic        // … electronic
	cDUrgentLate          // … urgent and presented after the end of the receipt's working day
	cDDoneDL              // incoming documents completed on the day that had a deadline
	cDDoneOnTime          // … completed by it
	cDOut                 // outgoing documents issued on the day
	cDOutSigned           // … with both digital signatures
	nCounters
)

var counterColumns = [nCounters]string{
	"received", "r_online", "r_online_raw", "r_digitized", "r_synced", "r_fee", "r_paid",
	"closed", "closed_on_time", "finished", "f_early", "f_on_time", "f_late", "f_seconds",
	"f_eres_den", "f_eres", "f_satisfied",
	"d_in", "d_in_electronic", "d_urgent_late", "d_done_dl", "d_done_on_time", "d_out", "d_out_signed",
}

type counters [nCounters]int64

type aggKey struct {
	Unit, Province string
	Day            dayKey
}

type feeKey struct {
	Unit, Province string
	Procedure      int
	Day            dayKey
}

// aggDelta accumulates contribution changes before they are written.
type aggDelta struct {
	days map[aggKey]*counters
	fees map[feeKey]*[2]int64
}

func newAggDelta() *aggDelta {
	return &aggDelta{days: map[aggKey]*counters{}, fees: map[feeKey]*[2]int64{}}
}

func (a *aggDelta) at(unit, province string, t time.Time) *counters {
	k := aggKey{unit, province, keyOf(t)}
	c := a.days[k]
	if c == nil {
		c = &counters{}
		a.days[k] = c
	}
	return c
}

// procFlags are the catalogue facts a dossier's contribution depends on.
type procFlags struct {
	HasFee, RequiresPaperResult bool
}

// dossierOnTime reports whether a closed dossier ended on time by the
// Decision 766 rule: end (pauses credited) ≤ deadline, at most one
// supplement request.
func dossierOnTime(d *Dossier) bool {
	return d.EndAt != nil && d.Deadline != nil && d.SupplementCount <= 1 && !d.EndAt.After(*d.Deadline)
}

// finishClass compares the Vietnam calendar days of end and deadline:
// -1 early, 0 on time, 1 late.
func finishClass(end, deadline time.Time) int {
	e, dl := keyOf(end), keyOf(deadline)
	switch {
	case e < dl:
		return -1
	case e == dl:
		return 0
	}
	return 1
}

// addDossier adds sign × the dossier's contribution.
func (a *aggDelta) addDossier(d *Dossier, p procFlags, sign int64) {
	if d == nil || d.State() == 0 || d.ReceivedAt == nil {
		return
	}
	c := a.at(d.Unit, d.Province, *d.ReceivedAt)
	c[cReceived] += sign
	if d.Channel == 2 {
		c[cOnlineRaw] += sign
		if !p.RequiresPaperResult || d.EResult {
			c[cOnline] += sign
		}
	}
	if d.Digitized && (d.EResult || !p.RequiresPaperResult) {
		c[cDigitized] += sign
	}
	if d.SyncedAt != nil {
		c[cSynced] += sign
	}
	if p.HasFee && d.FeeTotal > 0 {
		c[cFee] += sign
		if d.PaidOnline > 0 {
			c[cPaid] += sign
		}
	}
	if p.HasFee {
		k := feeKey{d.Unit, d.Province, d.ProcedureID, keyOf(*d.ReceivedAt)}
		f := a.fees[k]
		if f == nil {
			f = &[2]int64{}
			a.fees[k] = f
		}
		f[0] += sign
		if d.PaidOnline > 0 {
			f[1] += sign
		}
	}
	if d.State() != 2 || d.ClosedAt == nil || d.EndAt == nil || d.Deadline == nil {
		return
	}
	c = a.at(d.Unit, d.Province, *d.ClosedAt)
	c[cClosed] += sign
	if dossierOnTime(d) {
		c[cClosedOnTime] += sign
	}
	if !isFinished(d.Status) {
		return
	}
	c[cFinished] += sign
	class := finishClass(*d.EndAt, *d.Deadline)
	switch class {
	case -1:
		c[cEarly] += sign
	case 0:
		c[cOnTime] += sign
	default:
		c[cLate] += sign
	}
	c[cSeconds] += sign * processingSeconds(d)
	if p.RequiresPaperResult {
		c[cEResDen] += sign
		if d.EResult {
			c[cERes] += sign
		}
	}
	if class <= 0 && !d.Negative {
		c[cSatisfied] += sign
	}
}

// processingSeconds is end (pauses credited) minus reception, never negative.
func processingSeconds(d *Dossier) int64 {
	s := int64(d.EndAt.Sub(*d.ReceivedAt)/time.Second) - d.PauseCredit
	return max(s, 0)
}

// addIncoming adds sign × an incoming document's contribution.
func (a *aggDelta) addIncoming(doc *IncomingDoc, sign int64) {
	if doc == nil {
		return
	}
	c := a.at(doc.Unit, doc.Province, doc.ReceivedAt)
	c[cDIn] += sign
	if doc.Medium == "electronic" {
		c[cDInElectronic] += sign
	}
	if doc.UrgentDeadline != nil && doc.PresentedAt != nil && doc.PresentedAt.After(*doc.UrgentDeadline) {
		c[cDUrgentLate] += sign
	}
	if doc.Status == DocDone && doc.CompletedAt != nil && doc.Deadline != nil {
		c = a.at(doc.Unit, doc.Province, *doc.CompletedAt)
		c[cDDoneDL] += sign
		if !doc.CompletedAt.After(*doc.Deadline) {
			c[cDDoneOnTime] += sign
		}
	}
}

// addOutgoing adds sign × an outgoing document's contribution.
func (a *aggDelta) addOutgoing(o *OutgoingDoc, sign int64) {
	c := a.at(o.Unit, o.Province, o.IssuedAt)
	c[cDOut] += sign
	if o.SignedPersonal && o.SignedOrg {
		c[cDOutSigned] += sign
	}
}

// units returns the communes touched, with their provinces.
func (a *aggDelta) units() map[string]string {
	out := map[string]string{}
	for k := range a.days {
		out[k.Unit] = k.Province
	}
	for k := range a.fees {
		out[k.Unit] = k.Province
	}
	return out
}

func dayOf(k dayKey) time.Time {
	return time.Date(int(k)/10000, time.Month(int(k)/100%100), int(k)%100, 0, 0, 0, 0, time.UTC)
}

func monthOf(k dayKey) dayKey { return k/100*100 + 1 }
