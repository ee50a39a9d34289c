package sfu

import (
	"runtime"
	"sync"
)

// Forwarding. A packet is written to its subscribers by the goroutine that
// read it: writes never block (all UDP media shares one socket, and ICE-TCP
// connections have their own non-blocking buffers that drop when full), so
// a subscriber on a bad link costs only its own share of CPU and never
// holds the others up. Waking a goroutine per subscriber per packet would
// cost more than the write itself, so a publication's packets are written
// by its reader (one goroutine per published layer, so publishers already
// spread over the CPUs); only when one publication has more than
// Config.ParallelFanout subscribers is the list cut into chunks of that
// size that the Engine's fan-out workers (one per CPU) write in parallel.
// (Writing 200 subscribers from the reader alone measured 10–15 % more
// CPU per forwarded packet than the workers, probably because with one
// CPU busy and the other idle each hand-off on Pion's receive path wakes
// the idle one.)
// A chunk always goes to the same worker while the list is unchanged, so
// each subscriber sees its packets in order. When a worker's queue is full
// the chunk's packet is dropped and counted, and video restarts at the next
// keyframe for those subscribers.
const fanoutQueue = 1024

// job is one packet for one chunk of subscribers.
type job struct {
	p   *packet
	dts []*downTrack
}

// fanout is the Engine's pool of forwarding workers.
type fanout struct {
	qs    []chan job
	chunk int
	batch *batcher
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newFanout(b *batcher, threshold int) *fanout {
	n := max(2, runtime.GOMAXPROCS(0))
	f := &fanout{qs: make([]chan job, n), chunk: max(8, threshold), batch: b, stop: make(chan struct{})}
	for i := range f.qs {
		f.qs[i] = make(chan job, fanoutQueue)
		f.wg.Add(1)
		go f.run(f.qs[i])
	}
	return f
}

func (f *fanout) run(q chan job) {
	defer f.wg.Done()
	for {
		select {
		case j := <-q:
			f.batch.hold()
			for _, dt := range j.dts {
				if dt.wants(j.p.layer) {
					dt.write(j.p)
				}
			}
			f.batch.release()
		case <-f.stop:
			return
		}
	}
}

// submit hands p to the workers in chunks; start spreads publications over
// the workers.
func (f *fanout) submit(p *packet, subs []*downTrack, start uint64) {
	k := uint64(0)
	for i := 0; i < len(subs); i += f.chunk {
		chunk := subs[i:min(i+f.chunk, len(subs))]
		q := f.qs[(start+k)%uint64(len(f.qs))]
		k++
		select {
		case q <- job{p: p, dts: chunk}:
		default:
			for _, dt := range chunk {
				dt.dropped(p)
			}
		}
	}
}

func (f *fanout) close() {
	f.once.Do(func() { close(f.stop) })
	f.wg.Wait()
}
