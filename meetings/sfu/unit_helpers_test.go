package sfu

import "time"

func timeAt(sec, nsec int64) time.Time { return time.Unix(sec, nsec) }
