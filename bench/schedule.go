package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// job is one scheduled operation.
type job struct {
	at   time.Duration // intended send time, from the start of the run
	seq  int64         // position in the schedule (open loop)
	user int32         // acting account, index in runner.users
	op   int32
}

// worker is what one goroutine sending requests owns.
type worker struct {
	id  int
	rng *rand.Rand
	buf bytes.Buffer // response bodies that must be read
}

func (r *runner) newWorker(id int) *worker {
	return &worker{id: id, rng: rand.New(rand.NewPCG(r.cfg.Seed, uint64(id)+1))}
}

// schedAt is the intended send time of request k of an open loop at rate
// per second.
func schedAt(k int64, rate float64) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / rate)
}

// finish records the outcome of j, measured from its intended start.
func (r *runner) finish(w *worker, j job, code int) {
	lat := time.Since(r.start) - j.at
	r.stats[j.op].record(w.id, j.at >= r.warmup, code, lat)
}

// openLoop sends requests on a fixed schedule, like wrk2: request k is due
// at start + k/rate whatever happened to the ones before, and its latency is
// measured from that intended time, so a server that stalls is charged for
// every request that should have been sent during the stall (no coordinated
// omission). If the tool falls behind it sends late and still measures from
// the schedule. At most maxInflight requests are outstanding: a request due
// when that many are in flight is counted as "dropped" instead of queued, so
// memory stays bounded however slow the server. Requests are handed to a
// pool of workers that grows up to maxInflight. How late requests were
// sent (the tool's own lag: timer resolution, CPU) is recorded apart and
// reported, so a reader can tell the tool's share of a latency.
func (r *runner) openLoop(ctx context.Context) {
	done := make(chan struct{})
	go func() { // on its own goroutine: newSleeper locks it to a thread
		defer close(done)
		r.schedule(ctx)
	}()
	<-done
}

// schedule is the open loop's scheduler.
func (r *runner) schedule(ctx context.Context) {
	rate, maxIn := r.cfg.Rate, int64(r.cfg.MaxInflight)
	jobs := make(chan job, maxIn)
	var wg sync.WaitGroup
	spawned := int64(0)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0))
	sleep := newSleeper()
schedule:
	for k := int64(0); ; k++ {
		at := schedAt(k, rate)
		if at >= r.total {
			break
		}
		if wait := at - time.Since(r.start); wait > 0 {
			if !sleep(ctx, wait) {
				break schedule
			}
		} else if k%256 == 0 && ctx.Err() != nil {
			break schedule
		}
		j := r.next(rng, at, k)
		if r.inflight.Load() >= maxIn {
			r.stats[j.op].record(0, at >= r.warmup, statusDropped, 0)
			continue
		}
		// Workers only leave the in-flight count after finishing a job, so
		// as many workers as jobs in flight means one is free for this one.
		if n := r.inflight.Add(1); n > spawned {
			spawned++
			wg.Go(func() {
				w := r.newWorker(int(n))
				for j := range jobs {
					if j.at >= r.warmup {
						r.lag[w.id%histShards].Record(time.Since(r.start) - j.at)
					}
					r.finish(w, j, r.execFn(ctx, w, j))
					r.inflight.Add(-1)
				}
			})
		}
		jobs <- j
	}
	close(jobs)
	wg.Wait()
}

// closedLoop runs conns workers, each sending its next request as soon as
// the previous one is answered, like wrk or ab. Its throughput is the
// server's at that concurrency, but a stalled server also stalls the
// workers, so latency percentiles understate stalls: they only count the
// requests that were sent.
func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range r.cfg.Connections {
		wg.Go(func() {
			w := r.newWorker(i + 1)
			for ctx.Err() == nil {
				at := time.Since(r.start)
				if at >= r.total {
					return
				}
				j := r.next(w.rng, at, 0)
				r.inflight.Add(1)
				r.finish(w, j, r.execFn(ctx, w, j))
				r.inflight.Add(-1)
			}
		})
	}
	wg.Wait()
}

// next draws the operation and the account of a request.
func (r *runner) next(rng *rand.Rand, at time.Duration, seq int64) job {
	if r.stream != nil {
		return job{at: at, seq: seq, user: r.stream.poster, op: opStreamPost}
	}
	return job{at: at, seq: seq, user: int32(rng.IntN(len(r.users))), op: int32(r.picker.pick(rng))}
}

// progress prints a line every second until stopped: elapsed time, phase,
// successes per second over the last second, p99 so far (measured part
// only), errors so far and requests in flight.
func (r *runner) progress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastOK int64
		last := r.start
		var h Histogram
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				var all, ok int64
				h.Reset()
				for op, s := range r.stats {
					if !r.used[op] || s.phase {
						continue
					}
					for m := range 2 {
						a, o := s.counts(m)
						all, ok = all+a, ok+o
					}
					s.mergeInto(&h)
				}
				el := now.Sub(r.start)
				phase := "measure"
				if el < r.warmup {
					phase = "warm-up"
				} else if el >= r.total {
					phase = "drain"
				}
				p99 := "-"
				if h.Count() > 0 {
					p99 = fmtMS(float64(h.Percentile(99)) / float64(time.Millisecond))
				}
				fmt.Fprintf(r.cfg.Progress, "%s %4.0fs %-7s %8.1f req/s  p99 %-8s errors %d  in flight %d\n", r.label,
					el.Seconds(), phase, float64(ok-lastOK)/now.Sub(last).Seconds(), p99, all-ok, r.inflight.Load())
				lastOK, last = ok, now
			}
		}
	}()
	return func() { close(quit); <-finished }
}
