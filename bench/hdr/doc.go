// Package hdr is a log-linear latency histogram in the style of HdrHistogram:
// values are counted in buckets whose width grows with the value, so every
// recorded value is known to within a fixed relative error (2^-SubBits)
// while the whole range from 1 ns to minutes fits in a few thousand counters.
//
// Recording is one bit-length, one shift and one increment, with no
// allocation, so a load generator can record every response. Histograms with
// the same layout merge by adding counters, which is how per-connection
// histograms become one report.
//
// # Caveats
//
// A Histogram is not safe for concurrent use: give each goroutine its own
// and Merge them when the goroutines are done. Values above Max are counted
// in the last bucket and remembered exactly only as the maximum; values
// below zero are counted as zero.
package hdr
