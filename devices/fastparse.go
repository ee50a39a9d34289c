package devices

import (
	"strconv"
	"time"
)

// parseNativeFast decodes the common native telemetry payload,
// {"ts": <number|string|null>, "metrics": {"name": number|true|false, …}},
// in one pass without reflection. It only ever accepts: ok is false for
// anything it is not sure about (other keys, escapes, duplicates, an empty
// or oversized object, a timestamp out of range…), and the caller then
// takes the general path, which also names the reason for a rejection.
// FuzzParsePayload checks both paths agree.
func parseNativeFast(p []byte, ti topicInfo, now time.Time, maxAge time.Duration) ([]sample, bool) {
	i := skipWS(p, 0)
	if i >= len(p) || p[i] != '{' {
		return nil, false
	}
	i++
	var (
		tsRaw   []byte
		haveTS  bool
		metrics map[string]float64
	)
	for first := true; ; first = false {
		i = skipWS(p, i)
		if i < len(p) && p[i] == '}' && first {
			return nil, false // {}: no metrics
		}
		key, j, ok := scanPlainString(p, i)
		if !ok {
			return nil, false
		}
		i = skipWS(p, j)
		if i >= len(p) || p[i] != ':' {
			return nil, false
		}
		i = skipWS(p, i+1)
		switch string(key) {
		case "ts":
			if haveTS {
				return nil, false
			}
			haveTS = true
			start := i
			switch {
			case i < len(p) && p[i] == '"':
				if _, j, ok = scanPlainString(p, i); !ok {
					return nil, false
				}
			case i+4 <= len(p) && string(p[i:i+4]) == "null":
				j = i + 4
			default:
				if j, ok = scanNumber(p, i); !ok {
					return nil, false
				}
			}
			tsRaw, i = p[start:j], j
		case "metrics":
			if metrics != nil || i >= len(p) || p[i] != '{' {
				return nil, false
			}
			metrics = make(map[string]float64, 8)
			i++
			for mfirst := true; ; mfirst = false {
				i = skipWS(p, i)
				if i < len(p) && p[i] == '}' && mfirst {
					return nil, false
				}
				name, j, ok := scanPlainString(p, i)
				if !ok || !validMetric(string(name)) {
					return nil, false
				}
				if _, dup := metrics[string(name)]; dup {
					return nil, false
				}
				i = skipWS(p, j)
				if i >= len(p) || p[i] != ':' {
					return nil, false
				}
				i = skipWS(p, i+1)
				var v float64
				switch {
				case i+4 <= len(p) && string(p[i:i+4]) == "true":
					v, j = 1, i+4
				case i+5 <= len(p) && string(p[i:i+5]) == "false":
					v, j = 0, i+5
				default:
					if j, ok = scanNumber(p, i); !ok {
						return nil, false
					}
					f, err := strconv.ParseFloat(string(p[i:j]), 64)
					if err != nil { // out of float64 range
						return nil, false
					}
					v = f
				}
				metrics[string(name)] = v
				if len(metrics) > maxMetricsPerMsg {
					return nil, false
				}
				i = skipWS(p, j)
				if i < len(p) && p[i] == ',' {
					i++
					continue
				}
				if i < len(p) && p[i] == '}' {
					i++
					break
				}
				return nil, false
			}
		default:
			return nil, false
		}
		i = skipWS(p, i)
		if i < len(p) && p[i] == ',' {
			i++
			continue
		}
		if i < len(p) && p[i] == '}' {
			i++
			break
		}
		return nil, false
	}
	if skipWS(p, i) != len(p) || metrics == nil {
		return nil, false
	}
	ts, reason := parseTimestamp(tsRaw, now, maxAge)
	if reason != "" {
		return nil, false
	}
	return []sample{{device: ti.device, ts: ts, source: "native", metrics: metrics}}, true
}

func skipWS(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// scanPlainString scans a JSON string without escapes or control
// characters, of printable ASCII only; it returns its content and the
// index after the closing quote.
func scanPlainString(p []byte, i int) ([]byte, int, bool) {
	if i >= len(p) || p[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(p); j++ {
		switch c := p[j]; {
		case c == '"':
			return p[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, i, false
		}
	}
	return nil, i, false
}

// scanNumber scans a number by JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(p []byte, i int) (int, bool) {
	start := i
	if i < len(p) && p[i] == '-' {
		i++
	}
	switch {
	case i < len(p) && p[i] == '0':
		i++
	case i < len(p) && p[i] >= '1' && p[i] <= '9':
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
	default:
		return start, false
	}
	if i < len(p) && p[i] == '.' {
		i++
		d := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == d {
			return start, false
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		d := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == d {
			return start, false
		}
	}
	return i, true
}
