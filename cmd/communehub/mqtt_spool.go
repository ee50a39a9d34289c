package main

import (
	"errors"
	"fmt"
)

// parseSizeBetween reads a size (parseSize) from lo to hi bytes; the
// errors name the range as lohi says it.
func parseSizeBetween(s string, lo, hi int64, lohi [2]string) (int64, error) {
	n, err := parseSize(s, hi)
	if err != nil {
		return 0, fmt.Errorf("not a size up to %s", lohi[1])
	}
	if n < lo {
		return 0, errors.New("under " + lohi[0])
	}
	return n, nil
}

// parseSpoolSize reads COMMUNEHUB_MQTT_SPOOL_MAX: a size from 16MiB to 1TiB.
func parseSpoolSize(s string) (int64, error) {
	return parseSizeBetween(s, 16<<20, 1<<40, [2]string{"16MiB", "1TiB"})
}
