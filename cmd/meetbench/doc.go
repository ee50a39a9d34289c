// Command meetbench measures the meetings SFU (package meetings/sfu) with
// synthetic Pion participants. It runs the SFU in a child process (or uses
// one given with -relay) so that the SFU's own CPU time can be read from
// /proc, and drives bots from its own process. Scenarios:
//
//	meeting  N participants each publishing Opus and ~300 kbit/s of VP8
//	         (two simulcast layers); reports SFU CPU as a share of one core
//	fanout   one publisher to S subscribers; reports forwarded packets per
//	         second per core of SFU CPU
//	join     subscribers joining a running meeting one after another;
//	         reports the time from dialing to the first complete remote
//	         keyframe
//
// Publishing bots number their packets with the transport-wide sequence
// extension and receiving bots negotiate abs-send-time, as browsers do, so
// the SFU does the per-packet work it does for browsers.
//
// Before the scenario it prints a host reference (an AES-GCM seal and a
// loopback UDP datagram, timed): the machine's speed drifts, and results
// taken at different times compare only through it.
//
// Results go to docs/benchmarks.md ("Meetings (SFU)").
//
// meetbench imports meetings/sfu and its test bots, nothing else of the hub.
package main
