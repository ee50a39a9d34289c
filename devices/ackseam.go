package devices

import "context"

// AckAlarm acknowledges alarm id as POST /api/v1/devices/alarms/{id}/ack
// does (by: who, comment: why), for a feature that acknowledges on a
// person's behalf — the alerts feature's signed links. An alarm
// acknowledged already is a hub.EConflict error, an unknown one ENotFound.
func (s *Service) AckAlarm(ctx context.Context, id, by, comment string) error {
	a, err := ackAlarm(ctx, s.pool, id, by, comment)
	if err != nil {
		return err
	}
	s.st.ackApplied(a)
	return nil
}
