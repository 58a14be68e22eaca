package metric

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Bounds of the ServeLive interval: below MinEvery a slow client could make
// us serialise stats in a tight loop; above MaxEvery proxies drop the stream.
const (
	MinEvery     = 100 * time.Millisecond
	MaxEvery     = time.Minute
	DefaultEvery = time.Second
)

// ServeLive streams the live statistics of routeID ("" or "global" for all
// routes) as server-sent events, one `data: <Stats JSON>` event every
// `every` (clamped to [MinEvery, MaxEvery]; 0 means DefaultEvery), until the
// client goes away or a write fails. Each event's windowed fields cover the
// interval since the previous event, so a chart gets one point per interval.
// It returns ErrUnknownRoute before writing anything if the route has no
// metrics, nil when the client disconnects, and the write error otherwise.
// It runs on the caller's goroutine (an admin handler), never on a loop.
func (l *Live) ServeLive(w http.ResponseWriter, r *http.Request, routeID string, every time.Duration) error {
	if routeID != "" && routeID != "global" && l.set.lookup(routeID) == nil {
		return ErrUnknownRoute
	}
	switch {
	case every == 0:
		every = DefaultEvery
	case every < MinEvery:
		every = MinEvery
	case every > MaxEvery:
		every = MaxEvery
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	prev := l.current(routeID, time.Now())
	send := func(cur *liveSnap) error {
		st := statsBetween(cur, &prev)
		doc, err := json.Marshal(&st)
		if err != nil {
			return fmt.Errorf("cannot encode live stats: %w", err)
		}
		buf := make([]byte, 0, len(doc)+8)
		buf = append(buf, "data: "...)
		buf = append(buf, doc...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("cannot write live event: %w", err)
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("cannot flush live event: %w", err)
		}
		prev = *cur
		return nil
	}
	// A first event at once, so a client sees totals without waiting.
	if err := send(&prev); err != nil {
		return err
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case now := <-t.C:
			cur := l.current(routeID, now)
			if err := send(&cur); err != nil {
				if r.Context().Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// EveryFromQuery reads the `every` query parameter of /api/live/:id (milliseconds,
// Otoroshi's unit); absent or invalid means DefaultEvery. ServeLive clamps it.
func EveryFromQuery(r *http.Request) time.Duration {
	v := r.URL.Query().Get("every")
	if v == "" {
		return DefaultEvery
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return DefaultEvery
	}
	return time.Duration(ms) * time.Millisecond
}
