package load

import (
	"time"

	"github.com/torii-gateway/torii/bench/hdr"
)

// Report is the JSON form of a Result, as bench/loadgen writes it and the
// comparison reads it back. Latencies are in microseconds.
type Report struct {
	Target      string   `json:"target"`
	Mode        string   `json:"mode"` // "closed" or "open"
	Connections int      `json:"connections"`
	Pipeline    int      `json:"pipeline"`
	Rate        float64  `json:"rate,omitempty"` // open loop: the requested rate
	DurationS   float64  `json:"duration_s"`     // measured
	Sent        uint64   `json:"sent"`
	Responses   uint64   `json:"responses"`
	OK          uint64   `json:"ok"`
	RPS         float64  `json:"rps"` // complete responses per second
	BodyBytes   uint64   `json:"body_bytes"`
	Latency     Latency  `json:"latency_us"`
	SendLag     *Latency `json:"send_lag_us,omitempty"` // open loop: how late requests left vs their schedule
	Errors      Errors   `json:"errors"`
	PerSecond   []uint64 `json:"per_second"`

	// Cost of the generator itself, for comparison with the target's.
	CPUSeconds    float64 `json:"cpu_s"`          // user+system of the generator process
	CPUPerRequest float64 `json:"cpu_us_per_req"` // microseconds
	AllocsPerReq  float64 `json:"allocs_per_req"` // heap objects per response, whole process

	Distribution []Percentile `json:"distribution"` // on the nines scale, for plots
}

// Latency summarizes the histogram in microseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// Percentile is one point of the latency distribution.
type Percentile struct {
	Quantile float64 `json:"q"`
	Micros   float64 `json:"us"`
}

// NewReport summarizes res; cpu and allocs are what the process spent on it.
func NewReport(res *Result, target string, cpu time.Duration, allocs uint64) Report {
	h := res.Latency
	r := Report{
		Target: target, Mode: "closed", Connections: res.Config.Connections, Pipeline: res.Config.Pipeline,
		DurationS: res.Elapsed.Seconds(), Sent: res.Sent, Responses: res.Responses, OK: res.OK,
		BodyBytes: res.BodyBytes, Errors: res.Errors, PerSecond: res.PerSecond,
		Latency:    summarize(h),
		CPUSeconds: cpu.Seconds(),
	}
	if res.Config.Rate > 0 {
		r.Mode, r.Rate = "open", res.Config.Rate
		l := summarize(res.SendLag)
		r.SendLag = &l
	}
	if res.Elapsed > 0 {
		r.RPS = float64(res.Responses) / res.Elapsed.Seconds()
	}
	if res.Responses > 0 {
		r.CPUPerRequest = cpu.Seconds() * 1e6 / float64(res.Responses)
		r.AllocsPerReq = float64(allocs) / float64(res.Responses)
	}
	r.Distribution = Distribution(h)
	return r
}

// summarize returns h's summary in microseconds.
func summarize(h *hdr.Histogram) Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		Min: us(h.Min()), Mean: h.Mean() / 1e3, P50: us(h.Quantile(0.5)), P90: us(h.Quantile(0.9)),
		P99: us(h.Quantile(0.99)), P999: us(h.Quantile(0.999)), Max: us(h.Max()),
	}
}

// Distribution returns h's percentile curve in microseconds, 20 points per nine.
func Distribution(h *hdr.Histogram) []Percentile {
	var out []Percentile
	for _, p := range h.Distribution(20) {
		out = append(out, Percentile{Quantile: p.Quantile, Micros: float64(p.Value) / 1e3})
	}
	return out
}

// Points converts a distribution back to histogram points (nanoseconds), for plotting.
func Points(d []Percentile) []hdr.Point {
	out := make([]hdr.Point, len(d))
	for i, p := range d {
		out[i] = hdr.Point{Quantile: p.Quantile, Value: int64(p.Micros * 1e3)}
	}
	return out
}
