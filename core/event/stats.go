package event

import (
	"github.com/torii-gateway/torii/core/metric"
)

// Stats are the hub's counters, for the admin API and the UI.
type Stats struct {
	Recorded    uint64          `json:"recorded"`    // records drained from the rings
	RingDrops   uint64          `json:"ringDrops"`   // records refused because a ring was full
	Pending     int             `json:"pending"`     // records waiting in the rings
	Published   uint64          `json:"published"`   // documents given to Publish
	Invalid     uint64          `json:"invalid"`     // Publish documents that were not JSON objects
	Exporters   []ExporterStats `json:"exporters"`   // running exporters
	Unsupported []string        `json:"unsupported"` // ids of configs of a type Torii does not run
}

// ExporterStats are one running exporter's counters.
type ExporterStats struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Queued  int    `json:"queued"`  // documents waiting in its queue
	Sent    uint64 `json:"sent"`    // delivered
	Dropped uint64 `json:"dropped"` // refused because its queue was full
	Failed  uint64 `json:"failed"`  // abandoned after every retry
	Errors  uint64 `json:"errors"`  // failed delivery attempts
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (h *Hub) Stats() Stats {
	s := Stats{
		Recorded:    h.recorded.Load(),
		Published:   h.published.Load(),
		Invalid:     h.invalid.Load(),
		Unsupported: *h.unsupported.Load(),
		Exporters:   []ExporterStats{},
	}
	for _, r := range h.rings {
		s.RingDrops += r.Drops()
		s.Pending += r.Len()
	}
	for _, e := range *h.exporters.Load() {
		s.Exporters = append(s.Exporters, ExporterStats{
			ID: e.cfg.ID, Name: e.cfg.Name, Type: e.cfg.Type, Queued: e.queue.len(),
			Sent: e.sent.Load(), Dropped: e.dropped.Load(), Failed: e.failed.Load(), Errors: e.errs.Load(),
		})
	}
	return s
}

// registerMetrics adds the hub's families to set:
//
//	torii_events_recorded_total                      records drained from the rings
//	torii_events_dropped_total{stage="ring"}         records lost because a ring was full
//	torii_events_published_total                     documents given to Publish
//	torii_exporter_events_total{exporter,type,outcome="sent|dropped|failed"}
//	torii_exporter_errors_total{exporter,type}       failed delivery attempts
//	torii_exporter_queue_length{exporter,type}       documents waiting
func (h *Hub) registerMetrics(set *metric.Set) {
	set.CounterFunc("torii_events_recorded_total", h.recorded.Load)
	set.CounterFunc(`torii_events_dropped_total{stage="ring"}`, func() uint64 {
		var n uint64
		for _, r := range h.rings {
			n += r.Drops()
		}
		return n
	})
	set.CounterFunc("torii_events_published_total", h.published.Load)
	set.CounterVecFunc("torii_exporter_events_total", "Events handled by data exporters, by outcome.",
		[]string{"exporter", "type", "outcome"}, func(emit func(float64, ...string)) {
			for _, e := range *h.exporters.Load() {
				emit(float64(e.sent.Load()), e.cfg.ID, e.cfg.Type, "sent")
				emit(float64(e.dropped.Load()), e.cfg.ID, e.cfg.Type, "dropped")
				emit(float64(e.failed.Load()), e.cfg.ID, e.cfg.Type, "failed")
			}
		})
	set.CounterVecFunc("torii_exporter_errors_total", "Failed delivery attempts of data exporters.",
		[]string{"exporter", "type"}, func(emit func(float64, ...string)) {
			for _, e := range *h.exporters.Load() {
				emit(float64(e.errs.Load()), e.cfg.ID, e.cfg.Type)
			}
		})
	set.GaugeVecFunc("torii_exporter_queue_length", "Events waiting in data exporter queues.",
		[]string{"exporter", "type"}, func(emit func(float64, ...string)) {
			for _, e := range *h.exporters.Load() {
				emit(float64(e.queue.len()), e.cfg.ID, e.cfg.Type)
			}
		})
}
