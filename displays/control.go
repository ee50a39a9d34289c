package displays

// ctrlMsg is a control message for the writer, queued on the connection's
// hub.WSWriter in order with its events; exactly one field is set.
type ctrlMsg struct {
	start   *startInfo // the hello was accepted: send the first messages
	config  *Display   // the display's configuration changed (or it was revoked)
	command *Command   // a remote command to deliver
	paired  int64      // the pairing screen was paired as this display
	resync  bool       // the fan-out lost events: send a fresh snapshot
	renew   bool       // the pairing code expired
}
