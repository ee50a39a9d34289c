package main

import (
	"errors"
	"strconv"
	"strings"
)

// parseSpoolSize reads COMMUNEHUB_MQTT_SPOOL_MAX: a size from 16MiB to
// 1TiB, with a GiB, MiB, GB or MB suffix or in bytes.
func parseSpoolSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"GB", 1e9}, {"MB", 1e6}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, errors.New("not a size up to 1TiB")
	}
	if n*mult < 16<<20 {
		return 0, errors.New("under 16MiB")
	}
	return n * mult, nil
}

func checkSpoolSize(v string) error { _, err := parseSpoolSize(v); return err }
