package main

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/route"
)

// alertQueue bounds the route registry transitions waiting to become alerts. Transitions come in
// bursts (a backend going down opens every loop's circuit at once) but are rare; a full queue
// drops and counts rather than block an event loop.
const alertQueue = 1024

// alerter turns route registry transitions (circuit breakers, health checks) into AlertEvents
// published through the event hub. offer runs wherever the registry reports, event loops
// included: it never blocks; run does the encoding on its own goroutine.
type alerter struct {
	hub     *event.Hub
	log     *slog.Logger
	ch      chan route.Event
	dropped atomic.Uint64
}

func newAlerter(hub *event.Hub, log *slog.Logger) *alerter {
	return &alerter{hub: hub, log: log, ch: make(chan route.Event, alertQueue)}
}

// offer queues ev, or drops it when the queue is full. Safe from any goroutine; never blocks.
func (a *alerter) offer(ev route.Event) {
	select {
	case a.ch <- ev:
	default:
		a.dropped.Add(1)
	}
}

// run publishes queued transitions until ctx is done, then the ones still queued.
func (a *alerter) run(ctx context.Context) {
	for {
		select {
		case ev := <-a.ch:
			a.publish(ev)
		case <-ctx.Done():
			for {
				select {
				case ev := <-a.ch:
					a.publish(ev)
				default:
					if n := a.dropped.Load(); n > 0 {
						a.log.Warn("route alerts dropped: queue full", "dropped", n)
					}
					return
				}
			}
		}
	}
}

// alertName maps a transition to Otoroshi's alert name where it has one.
func alertName(k route.EventKind) string {
	switch k {
	case route.EventCircuitOpened:
		return event.AlertCircuitBreakerOpened
	case route.EventCircuitClosed:
		return event.AlertCircuitBreakerClosed
	}
	return k.String() + "Alert"
}

func (a *alerter) publish(ev route.Event) {
	a.log.Info("route target transition", "event", ev.Kind.String(), "route", ev.RouteID, "target", ev.TargetID, "detail", ev.Detail)
	err := a.hub.PublishAlert(alertName(ev.Kind), map[string]any{
		"routeId":  ev.RouteID,
		"targetId": ev.TargetID,
		"target":   ev.Key,
		"detail":   ev.Detail,
		"at":       ev.Time.UnixMilli(),
	})
	if err != nil {
		a.log.Error("cannot publish route alert", "err", err)
	}
}
