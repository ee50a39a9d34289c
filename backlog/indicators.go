package backlog

import (
	"encoding/json"
	"math"
)

// Rate is a ratio that sums across units: a province's rate is the sum of
// its communes' numerators over the sum of their denominators.
type Rate struct {
	Num, Den int64
}

// Value is Num/Den, or nil when Den is 0.
func (r Rate) Value() *float64 {
	if r.Den == 0 {
		return nil
	}
	v := float64(r.Num) / float64(r.Den)
	return &v
}

// Served precision (docs/kpis.md): a rate's value has RateDecimals
// decimals (0.5513 is 55.13 %), an average's num and value AverageDecimals.
const (
	RateDecimals    = 4
	AverageDecimals = 2
)

// roundTo rounds v to n decimal places (the float64 nearest the decimal,
// so 43/78 encodes as 0.5513, not 0.5512820512820513).
func roundTo(v float64, n int) float64 {
	p := math.Pow10(n)
	return math.Round(v*p) / p
}

// MarshalJSON encodes {"num","den","value"}, value rounded to RateDecimals.
func (r Rate) MarshalJSON() ([]byte, error) {
	v := r.Value()
	if v != nil {
		x := roundTo(*v, RateDecimals)
		v = &x
	}
	return json.Marshal(struct {
		Num   int64    `json:"num"`
		Den   int64    `json:"den"`
		Value *float64 `json:"value"`
	}{r.Num, r.Den, v})
}

// Average is a mean that sums across units like a rate: Num is the total
// (processing days), Den the count.
type Average struct {
	Num float64
	Den int64
}

// MarshalJSON encodes {"num","den","value"} with num and value rounded to
// AverageDecimals.
func (a Average) MarshalJSON() ([]byte, error) {
	var v *float64
	if a.Den > 0 {
		x := roundTo(a.Num/float64(a.Den), AverageDecimals)
		v = &x
	}
	return json.Marshal(struct {
		Num   float64  `json:"num"`
		Den   int64    `json:"den"`
		Value *float64 `json:"value"`
	}{roundTo(a.Num, AverageDecimals), a.Den, v})
}

// DossierKPIs are the dossier indicators (docs/kpis.md); the JSON keys are
// stable API.
type DossierKPIs struct {
	Received                 int64   `json:"received"`
	CarriedOver              int64   `json:"carried_over"`
	ToProcess                int64   `json:"to_process"`
	Open                     int64   `json:"open"`
	OpenOverdue              int64   `json:"open_overdue"`
	OpenDueSoon              int64   `json:"open_due_soon"`
	OpenWithin               int64   `json:"open_within"`
	OpenPaused               int64   `json:"open_paused"`
	Finished                 int64   `json:"finished"`
	FinishedEarly            int64   `json:"finished_early"`
	FinishedOnTime           int64   `json:"finished_on_time"`
	FinishedLate             int64   `json:"finished_late"`
	OnTimeRate               Rate    `json:"on_time_rate"`
	OnlineRate               Rate    `json:"online_rate"`
	OnlineRateRaw            Rate    `json:"online_rate_raw"`
	DigitizationRate         Rate    `json:"digitization_rate"`
	EResultRate              Rate    `json:"e_result_rate"`
	PaidOnlineRate           Rate    `json:"paid_online_rate"`
	ProceduresPaidOnlineRate Rate    `json:"procedures_paid_online_rate"`
	AvgProcessingDays        Average `json:"avg_processing_days"`
	SyncRate                 Rate    `json:"sync_rate"`
	SatisfactionRate         Rate    `json:"satisfaction_rate"`
}

// DocumentKPIs are the document indicators; the JSON keys are stable API.
type DocumentKPIs struct {
	Incoming                int64 `json:"incoming"`
	Backlog                 int64 `json:"backlog"`
	Overdue                 int64 `json:"overdue"`
	UrgentBreaches          int64 `json:"urgent_breaches"`
	Outgoing                int64 `json:"outgoing"`
	OnTimeCompletionRate    Rate  `json:"on_time_completion_rate"`
	ElectronicShare         Rate  `json:"electronic_share"`
	OutgoingFullySignedRate Rate  `json:"outgoing_fully_signed_rate"`
}

// PointItem is one estimated Decision 766 sub-score.
type PointItem struct {
	Indicator string   `json:"indicator"`
	Max       float64  `json:"max"`
	FullAt    float64  `json:"full_at"`
	Points    *float64 `json:"points"`
}

// Points are estimated Decision 766 points, labelled as estimates.
type Points struct {
	Estimate bool                 `json:"estimate"`
	NoteVI   string               `json:"note_vi"`
	NoteEN   string               `json:"note_en"`
	Items    map[string]PointItem `json:"items"`
}

// CommuneRow is one commune in a province's body.
type CommuneRow struct {
	Code             string `json:"code"`
	Name             string `json:"name"`
	Received         int64  `json:"received"`
	Open             int64  `json:"open"`
	OpenOverdue      int64  `json:"open_overdue"`
	OpenDueSoon      int64  `json:"open_due_soon"`
	OnTimeRate       Rate   `json:"on_time_rate"`
	DocumentsBacklog int64  `json:"documents_backlog"`
	DocumentsOverdue int64  `json:"documents_overdue"`
}

// KPIs is the body of GET /api/v1/kpis and of the kpi topics.
type KPIs struct {
	Unit      string       `json:"unit"`
	Level     string       `json:"level"`
	Name      string       `json:"name"`
	Province  string       `json:"province,omitempty"`
	From      string       `json:"from"`
	To        string       `json:"to"`
	AsOf      string       `json:"as_of"`
	Dossiers  DossierKPIs  `json:"dossiers"`
	Documents DocumentKPIs `json:"documents"`
	Points    Points       `json:"points_estimate"`
	Communes  []CommuneRow `json:"communes,omitempty"`
}

// unitSums are one commune's raw numbers for a period; a province adds them.
type unitSums struct {
	c                                        counters
	carried                                  int64
	feeProcs, paidProcs                      int64
	open, overdue, soon, paused, openOnTime  int64
	docBacklog, docOverdue, docUrgentPending int64
}

func (s *unitSums) add(o *unitSums) {
	for i := range s.c {
		s.c[i] += o.c[i]
	}
	s.carried += o.carried
	s.feeProcs += o.feeProcs
	s.paidProcs += o.paidProcs
	s.open += o.open
	s.overdue += o.overdue
	s.soon += o.soon
	s.paused += o.paused
	s.openOnTime += o.openOnTime
	s.docBacklog += o.docBacklog
	s.docOverdue += o.docOverdue
	s.docUrgentPending += o.docUrgentPending
}

// assemble turns raw sums into the indicators.
func assemble(s *unitSums) (DossierKPIs, DocumentKPIs) {
	c := s.c
	d := DossierKPIs{
		Received:                 c[cReceived],
		CarriedOver:              s.carried,
		ToProcess:                c[cReceived] + s.carried,
		Open:                     s.open,
		OpenOverdue:              s.overdue,
		OpenDueSoon:              s.soon,
		OpenWithin:               s.open - s.overdue - s.soon,
		OpenPaused:               s.paused,
		Finished:                 c[cFinished],
		FinishedEarly:            c[cEarly],
		FinishedOnTime:           c[cOnTime],
		FinishedLate:             c[cLate],
		OnTimeRate:               Rate{c[cClosedOnTime] + s.openOnTime, c[cReceived] + s.carried},
		OnlineRate:               Rate{c[cOnline], c[cReceived]},
		OnlineRateRaw:            Rate{c[cOnlineRaw], c[cReceived]},
		DigitizationRate:         Rate{c[cDigitized], c[cReceived]},
		EResultRate:              Rate{c[cERes], c[cEResDen]},
		PaidOnlineRate:           Rate{c[cPaid], c[cFee]},
		ProceduresPaidOnlineRate: Rate{s.paidProcs, s.feeProcs},
		AvgProcessingDays:        Average{float64(c[cSeconds]) / 86400, c[cFinished]},
		SyncRate:                 Rate{c[cSynced], c[cReceived]},
		SatisfactionRate:         Rate{c[cSatisfied], c[cFinished]},
	}
	doc := DocumentKPIs{
		Incoming:                c[cDIn],
		Backlog:                 s.docBacklog,
		Overdue:                 s.docOverdue,
		UrgentBreaches:          c[cDUrgentLate] + s.docUrgentPending,
		Outgoing:                c[cDOut],
		OnTimeCompletionRate:    Rate{c[cDDoneOnTime], c[cDDoneDL]},
		ElectronicShare:         Rate{c[cDInElectronic], c[cDIn]},
		OutgoingFullySignedRate: Rate{c[cDOutSigned], c[cDOut]},
	}
	return d, doc
}

// pointRules are the estimated Decision 766 sub-scores (docs/kpis.md):
// points = max × min(1, value / full_at).
var pointRules = []struct {
	key, indicator string
	max, fullAt    float64
	rate           func(*DossierKPIs) Rate
}{
	{"progress", "on_time_rate", 20, 1, func(d *DossierKPIs) Rate { return d.OnTimeRate }},
	{"sync", "sync_rate", 6, 1, func(d *DossierKPIs) Rate { return d.SyncRate }},
	{"paid_online", "paid_online_rate", 6, 0.3, func(d *DossierKPIs) Rate { return d.PaidOnlineRate }},
	{"procedures_paid", "procedures_paid_online_rate", 2, 0.8, func(d *DossierKPIs) Rate { return d.ProceduresPaidOnlineRate }},
	{"e_result", "e_result_rate", 6, 1, func(d *DossierKPIs) Rate { return d.EResultRate }},
	{"digitization", "digitization_rate", 4, 0.8, func(d *DossierKPIs) Rate { return d.DigitizationRate }},
	{"satisfaction", "satisfaction_rate", 6, 0.9, func(d *DossierKPIs) Rate { return d.SatisfactionRate }},
}

func estimatePoints(d *DossierKPIs) Points {
	p := Points{
		Estimate: true,
		NoteVI:   "Điểm ước tính theo QĐ 766; điểm chính thức do Cổng Dịch vụ công quốc gia tính.",
		NoteEN:   "Estimated Decision 766 points; the official score is computed by the National Public Service Portal.",
		Items:    map[string]PointItem{},
	}
	for _, r := range pointRules {
		it := PointItem{Indicator: r.indicator, Max: r.max, FullAt: r.fullAt}
		if v := r.rate(d).Value(); v != nil {
			pts := math.Round(r.max*math.Min(1, *v/r.fullAt)*100) / 100
			it.Points = &pts
		}
		p.Items[r.key] = it
	}
	return p
}
