// Package bench is the load tool behind "starling bench": it measures any
// server that speaks the Mastodon client API, so that the same run, with
// the same client and the same method, measures Starling and a peer
// (GoToSocial, Mastodon...).
//
// # Commands
//
//	starling bench setup    --target URL [--target URL...] [--tokens FILE]
//	                        [--graph reed98|facebook|powerlaw:N|none:N]
//	                        [--posts-per-user 10] [--state bench-state.json]
//	                        [--concurrency 16] [--datasets DIR] [--seed N]
//	starling bench run      [--state FILE] [--target URL]
//	                        [--workload deathstar|read|write|home|account|media|stream]
//	                        [--mix home=60,account=30,compose=10]
//	                        [--rate R [--max-inflight 1024] | --connections N]
//	                        [--duration 30s] [--warmup 5s] [--timeout 10s]
//	                        [--json FILE] [--ceiling] [--media-size 256KiB]
//	                        [--sockets 100] [--streaming-url URL]
//	starling bench ceiling  [--capture URL --token TOKEN] [--listen 127.0.0.1:0]
//	starling bench compare  A.json B.json      (also: --compare A.json B.json)
//
// Every flag can also be set with STARLING_BENCH_<FLAG>.
//
// Setup signs accounts up through the standard API (POST /api/v1/apps, a
// client_credentials token, POST /api/v1/accounts) or adopts existing ones
// from a tokens file, makes the follows of a real social graph (each
// undirected friendship of the datasets in ../shared/datasets becomes two
// follows) or of a generated power-law graph, and makes seed posts. It
// writes a state file as it goes and resumes from it.
//
// Run offers a workload to those accounts and reports, per operation and
// overall: successful requests per second, latency percentiles, and every
// outcome by HTTP status or by failure ("timeout", "connection", "dropped",
// "canceled", and for streams "lost").
//
// # Method
//
// Open loop (--rate R). Requests are due on a fixed schedule, one every 1/R
// seconds, whatever happened to earlier ones, and each latency is measured
// from the time the request was due, not from when it was sent. This is
// how wrk2 avoids coordinated omission: a closed-loop tool whose workers
// wait for a stalled server stops sending during the stall, so the stall
// shows up in one sample per worker instead of in every request a real
// population of clients would have sent meanwhile, and the tail percentiles
// come out far too good. Measured from the schedule, a 500 ms pause of the
// server costs every request due during it up to 500 ms. If the tool itself
// falls behind (CPU starved), requests are sent late but still measured
// from the schedule. Outstanding requests are capped (--max-inflight); a
// request due beyond the cap is counted as "dropped" rather than queued, so
// an overloaded server shows as errors and memory stays bounded.
//
// Closed loop (--connections N). N workers each send their next request as
// soon as the previous one is answered. This finds the throughput the
// server sustains at that concurrency, but its latencies only describe the
// requests that were sent: read its tail with the caveat above.
//
// Warm-up (--warmup). Load is offered for this long before measuring begins
// (connections open, caches and JIT-like effects settle); the requests due
// during the warm-up are counted apart (WarmupStatus in the JSON) and are in
// neither the throughput nor the latencies. The measured part lasts
// --duration; requests still in flight at its end are waited for (bounded by
// --timeout) and counted.
//
// Latencies go into a log-linear histogram (see Histogram): at most 1%
// relative error from 1 µs to an hour, recorded with atomic additions only,
// merged across workers for the report.
//
// The client is one shared http.Transport: HTTP/1.1 keep-alive with as many
// idle connections per host as the load needs, no proxy, no gzip (both
// sides move the same bytes), every body read to its end. The tool runs on
// the same machine as the server, so it keeps its own cost down (URLs and
// headers built once per account, shared request bodies) and reports its
// own CPU time; whatever it uses, the server did not get.
//
// The ceiling (starling bench ceiling, or run --ceiling for the home
// workload) serves one captured response from a plain net/http handler:
// loading it the same way measures the fastest a Go HTTP server answers
// those bytes on this machine, and a run can report a server as a fraction
// of that.
//
// # Go API
//
// Setup, Run, Compare and the types they use are exported so tests can
// drive a server directly and check the report's counts (Report.Op(name)
// .Status, plus WarmupStatus) against the server's own metrics.
package bench
