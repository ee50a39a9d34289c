package devices

import "math"

// MetricDecimals is the precision of every telemetry value the hub stores
// and serves: 6 decimal places, whatever the metric (latency_ms in
// nanoseconds, percentages in millionths of a point). Values derived by
// arithmetic (Telegraf's response_time × 1000, 100 − usage_idle) and
// averages would otherwise carry float noise such as 3.2000000000000006.
const MetricDecimals = 6

// roundLimit is where rounding stops: from 1e9 up a float64 holds fewer
// than 7 decimals, so the value is kept as it is (counters, bytes).
const roundLimit = 1e9

// roundMetric rounds v to MetricDecimals decimal places: the result is the
// float64 nearest to the decimal, so it encodes as "3.2".
func roundMetric(v float64) float64 {
	if math.Abs(v) >= roundLimit {
		return v
	}
	return math.Round(v*1e6) / 1e6
}

// roundSamples rounds every metric of the samples in place.
func roundSamples(samples []sample) {
	for i := range samples {
		for k, v := range samples[i].metrics {
			samples[i].metrics[k] = roundMetric(v)
		}
	}
}
