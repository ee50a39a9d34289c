package devices

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"time"
)

// A spool record is one acknowledged message's telemetry rows, framed as
//
//	length uint32 LE | crc32c(body) uint32 LE | body
//
// body: version byte 1, uvarint sample count, then per sample unit, device,
// source (uvarint length + bytes), ts (varint Unix nanoseconds) and a
// uvarint metric count of (name, float64 bits LE).
const (
	spoolRecVersion = 1
	spoolFrameHead  = 8
	maxSpoolRecord  = 16 << 20 // a 256 KiB Telegraf batch encodes far smaller
)

var (
	crc32c = crc32.MakeTable(crc32.Castagnoli)

	// errSpoolTorn is a frame cut short or failing its checksum: the tail a
	// crash leaves mid-write (never acknowledged), or damage.
	errSpoolTorn = errors.New("spool: torn or corrupt record")
	errSpoolBody = errors.New("spool: malformed record body")
)

func appendSpoolString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendSpoolRecord appends the framed record of samples to b.
func appendSpoolRecord(b []byte, samples []sample) []byte {
	start := len(b)
	b = append(b, make([]byte, spoolFrameHead)...)
	b = append(b, spoolRecVersion)
	b = binary.AppendUvarint(b, uint64(len(samples)))
	for i := range samples {
		s := &samples[i]
		b = appendSpoolString(b, s.unit)
		b = appendSpoolString(b, s.device)
		b = appendSpoolString(b, s.source)
		b = binary.AppendVarint(b, s.ts.UnixNano())
		b = binary.AppendUvarint(b, uint64(len(s.metrics)))
		for k, v := range s.metrics {
			b = appendSpoolString(b, k)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	body := b[start+spoolFrameHead:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, crc32c))
	return b
}

// readSpoolFrame reads the next frame's body into buf. io.EOF: a clean end;
// errSpoolTorn: a short or corrupt frame.
func readSpoolFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var head [spoolFrameHead]byte
	if n, err := io.ReadFull(r, head[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, io.EOF
		}
		return nil, errSpoolTorn
	}
	n := binary.LittleEndian.Uint32(head[:])
	if n == 0 || n > maxSpoolRecord {
		return nil, errSpoolTorn
	}
	buf = append(buf[:0], make([]byte, n)...)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, errSpoolTorn
	}
	if crc32.Checksum(buf, crc32c) != binary.LittleEndian.Uint32(head[4:]) {
		return nil, errSpoolTorn
	}
	return buf, nil
}

type spoolDecoder struct {
	b   []byte
	err bool
}

func (d *spoolDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spoolDecoder) str() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeSpoolRecord decodes a frame's body (checksum already verified).
func decodeSpoolRecord(body []byte) ([]sample, error) {
	if len(body) == 0 || body[0] != spoolRecVersion {
		return nil, errSpoolBody
	}
	d := spoolDecoder{b: body[1:]}
	n := d.uvarint()
	// Each sample takes at least 5 bytes: this bounds the allocation.
	if d.err || n == 0 || n > uint64(len(d.b))/5 {
		return nil, errSpoolBody
	}
	out := make([]sample, 0, n)
	for i := uint64(0); i < n && !d.err; i++ {
		s := sample{unit: d.str(), device: d.str(), source: d.str()}
		ts, k := binary.Varint(d.b)
		if k <= 0 {
			return nil, errSpoolBody
		}
		d.b = d.b[k:]
		s.ts = time.Unix(0, ts).UTC()
		m := d.uvarint()
		if d.err || m > uint64(len(d.b))/9 {
			return nil, errSpoolBody
		}
		s.metrics = make(map[string]float64, m)
		for j := uint64(0); j < m && !d.err; j++ {
			name := d.str()
			if d.err || len(d.b) < 8 {
				return nil, errSpoolBody
			}
			s.metrics[name] = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
			d.b = d.b[8:]
		}
		out = append(out, s)
	}
	if d.err || len(d.b) != 0 {
		return nil, errSpoolBody
	}
	return out, nil
}
