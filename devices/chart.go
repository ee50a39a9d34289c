package devices

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// chartRange is one range of the device page's charts: its length, its
// bucket and where the buckets come from. Every range has at most
// maxChartBuckets buckets, whatever the device's reporting interval: a
// 30-day chart of a 10 s metric is 720 hourly buckets, not 260,000 points.
type chartRange struct {
	name   string
	length time.Duration
	step   time.Duration
	hourly bool // from telemetry_hourly (plus raw rows not yet rolled up), else from raw telemetry
}

var chartRanges = []chartRange{
	{"1h", time.Hour, 10 * time.Second, false},
	{"24h", 24 * time.Hour, 2 * time.Minute, false},
	{"7d", 7 * 24 * time.Hour, time.Hour, true},
	{"30d", 30 * 24 * time.Hour, time.Hour, true},
}

var chartRangeNames = func() []string {
	var out []string
	for _, r := range chartRanges {
		out = append(out, r.name)
	}
	return out
}()

// maxChartBuckets caps the buckets of one series.
const maxChartBuckets = 1000

func chartRangeOf(name string) (chartRange, bool) {
	for _, r := range chartRanges {
		if r.name == name {
			return r, true
		}
	}
	return chartRange{}, false
}

// Chart is one metric of one device over a range, in columns (as a chart
// library takes them): T[i] is the start of bucket i in Unix seconds;
// Avg, Min and Max are null where the bucket has no data; N counts the
// readings in each bucket.
type Chart struct {
	Unit   string     `json:"unit"`
	Device string     `json:"device"`
	Metric string     `json:"metric"`
	Range  string     `json:"range"`
	From   time.Time  `json:"from"`
	To     time.Time  `json:"to"`
	Step   string     `json:"step"`
	Source string     `json:"source"` // raw, or hourly (rollups, and raw rows for the hour not yet rolled up)
	Points int        `json:"points"` // buckets with data
	T      []int64    `json:"t"`
	Avg    []*float64 `json:"avg"`
	Min    []*float64 `json:"min"`
	Max    []*float64 `json:"max"`
	N      []int64    `json:"n"`
}

// queryChart downsamples metric of one device over r, ending with the
// bucket that holds now. Hourly ranges read the rollups up to the hour the
// rollup has completed (telemetry_rollup.done_until) and the raw rows after it.
func queryChart(ctx context.Context, pool *pgxpool.Pool, unit, device, metric string, r chartRange, now time.Time) (*Chart, error) {
	to := now.UTC().Truncate(r.step).Add(r.step)
	from := to.Add(-r.length)
	ch := &Chart{Unit: unit, Device: device, Metric: metric, Range: r.name, From: from, To: to, Step: r.step.String(), Source: "raw"}
	if !r.hourly {
		// Steps under an hour from raw rows: the telemetry API's series.
		pts, _, err := querySeries(ctx, pool, unit, device, metric, from, to, r.step, time.Time{})
		if err != nil {
			return nil, err
		}
		ch.fill(pts, r.step)
		return ch, nil
	}
	ch.Source = "hourly"
	var done time.Time
	err := pool.QueryRow(ctx, `SELECT done_until FROM telemetry_rollup WHERE id=1`).Scan(&done)
	if errors.Is(err, pgx.ErrNoRows) {
		done, err = from, nil
	}
	if err != nil {
		return nil, err
	}
	if done.Before(from) {
		done = from
	} else if done.After(to) {
		done = to
	}
	rows, err := pool.Query(ctx, `
		SELECT hour, sum / n, min, max, n FROM telemetry_hourly
		WHERE unit=$1 AND device=$2 AND metric=$3 AND hour >= $4 AND hour < $5
		UNION ALL
		SELECT date_trunc('hour', ts), avg(v), min(v), max(v), count(*)
		FROM (SELECT ts, (metrics->>$3)::float8 AS v FROM telemetry
		      WHERE unit=$1 AND device=$2 AND ts >= $5 AND ts < $6 AND metrics ? $3) t
		GROUP BY 1
		ORDER BY 1`, unit, device, metric, from, done, to)
	if err != nil {
		return nil, err
	}
	pts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Point, error) {
		var p Point
		err := row.Scan(&p.T, &p.Avg, &p.Min, &p.Max, &p.N)
		return p, err
	})
	if err != nil {
		return nil, err
	}
	ch.fill(pts, r.step)
	return ch, nil
}

// fill lays pts (ordered, on bucket starts) over every bucket of the range.
func (ch *Chart) fill(pts []Point, step time.Duration) {
	n := int(ch.To.Sub(ch.From) / step)
	ch.T = make([]int64, n)
	ch.Avg, ch.Min, ch.Max = make([]*float64, n), make([]*float64, n), make([]*float64, n)
	ch.N = make([]int64, n)
	for i := range n {
		ch.T[i] = ch.From.Add(time.Duration(i) * step).Unix()
	}
	for _, p := range pts {
		i := int(p.T.Sub(ch.From) / step)
		if i < 0 || i >= n {
			continue
		}
		if ch.N[i] == 0 {
			ch.Points++
		}
		avg, lo, hi := roundMetric(p.Avg), roundMetric(p.Min), roundMetric(p.Max)
		ch.Avg[i], ch.Min[i], ch.Max[i], ch.N[i] = &avg, &lo, &hi, ch.N[i]+p.N
	}
}
