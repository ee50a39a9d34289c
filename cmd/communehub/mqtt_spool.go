package main

import "errors"

// parseSpoolSize reads COMMUNEHUB_MQTT_SPOOL_MAX: a size from 16MiB to 1TiB.
func parseSpoolSize(s string) (int64, error) {
	n, err := parseSize(s, 1<<40)
	if err != nil {
		return 0, errors.New("not a size up to 1TiB")
	}
	if n < 16<<20 {
		return 0, errors.New("under 16MiB")
	}
	return n, nil
}

func checkSpoolSize(v string) error { _, err := parseSpoolSize(v); return err }
