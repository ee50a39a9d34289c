package meetings

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// TimeExample is the example of a meeting time that error messages give:
// RFC 3339 with Vietnam's offset.
const TimeExample = "2026-12-09T08:00:00+07:00"

// bindMeeting decodes a MeetingInput. Its times are checked first, so that
// a time that is not RFC 3339 ("tomorrow", "09/12/2026") is a 422 naming
// the field and the expected format, not encoding/json's layout error
// (`parsing time "tomorrow" as "2006-01-02T15:04:05Z07:00"`).
func bindMeeting(c *fiber.Ctx, in *MeetingInput) error {
	if err := checkMeetingTimes(c.Body()); err != nil {
		return err
	}
	return hub.BindJSON(c, in)
}

// checkMeetingTimes checks starts_at and ends_at of a JSON object, when
// present and not null; anything else is left to the strict decoder.
func checkMeetingTimes(body []byte) error {
	var times struct {
		StartsAt json.RawMessage `json:"starts_at"`
		EndsAt   json.RawMessage `json:"ends_at"`
	}
	if json.Unmarshal(body, &times) != nil {
		return nil // not an object, or a field of the wrong type: the decoder says which
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"starts_at", times.StartsAt}, {"ends_at", times.EndsAt}} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		if err := checkTime(f.name, f.raw); err != nil {
			return err
		}
	}
	return nil
}

// checkTime returns a 422 naming field unless raw is a JSON string holding
// an RFC 3339 time.
func checkTime(field string, raw json.RawMessage) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return timeError(field, string(raw))
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return timeError(field, s)
	}
	return nil
}

func timeError(field, got string) error {
	if len(got) > 40 {
		got = got[:40] + "…"
	}
	return &hub.Error{Code: hub.EUnprocessable, Field: field,
		Message: field + ": expected RFC 3339 (date, time and offset), e.g. " + TimeExample + ", not " + strconv.Quote(got)}
}
