// Package sfutest provides synthetic meeting participants ("bots") built on
// Pion: they publish synthetic VP8 and Opus RTP (optionally two simulcast
// layers), receive and count the others' packets, answer keyframe requests,
// and measure join time and forwarding latency from a send timestamp carried
// in every payload. Loss can be injected on either direction of a bot's
// link. Tests of packages sfu and meetings and the cmd/meetbench tool use
// them; nothing in production imports this package.
package sfutest
