package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/quota"
)

// PushEvery is how often a worker without Redis pushes its call counts to the leader (Otoroshi
// pushes every 2 to 10 s).
const PushEvery = time.Second

// Pusher sends a worker's call increments to the leader (PUT /api/cluster/quotas, Otoroshi's
// apkincr lines) and raises its local counts to the leader's answer, so that every worker
// counts the calls of the others, one push late. This is the cluster's quota mode without
// Redis: it over-admits up to what the other workers admit in one push period.
type Pusher struct {
	w        *Worker
	counters *quota.Counters
	adopt    bool
	since    uint64                  // the leader's quota change number last received
	last     map[string]quota.Counts // counts at the last push (after raising)
}

// NewPusher returns the pusher of w's counters. With adopt, the worker takes the cluster's
// counts from the answers (the no-Redis quota mode); without, it only reports its calls (so
// that the leader's usage report covers the cluster) and its status (a heartbeat), its quotas
// being counted in Redis.
func NewPusher(w *Worker, counters *quota.Counters, adopt bool) *Pusher {
	return &Pusher{w: w, counters: counters, adopt: adopt, last: make(map[string]quota.Counts)}
}

// Run pushes every PushEvery until ctx is done, and once more at the end (shutdown).
func (p *Pusher) Run(ctx context.Context) {
	t := time.NewTicker(PushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := p.PushOnce(ctx); err != nil && ctx.Err() == nil {
				p.w.log.Warn("quota increments not pushed to the leader (kept for the next push)", "err", err)
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = p.PushOnce(final)
			cancel()
			return
		}
	}
}

// PushOnce pushes the calls counted since the last successful push (an empty push is the
// worker's heartbeat) and, with adopt, raises the local counts to the leader's answer: the keys
// pushed and every key another worker pushed since the previous answer.
func (p *Pusher) PushOnce(ctx context.Context) error {
	now := time.Now()
	at := make(map[string]quota.Counts)
	var body bytes.Buffer
	p.counters.Each(now, func(id string, n quota.Counts) {
		at[id] = n
		delta := n.Day - p.last[id].Day
		if delta < 0 { // a new day
			delta = n.Day
		}
		if delta == 0 {
			return
		}
		b, _ := json.Marshal(quotaLine{Typ: "apkincr", Apk: id, I: delta})
		body.Write(b)
		body.WriteByte('\n')
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.w.base.JoinPath("/api/cluster/quotas").String(), &body)
	if err != nil {
		return fmt.Errorf("cannot build the quota push: %w", err)
	}
	p.w.headers(req.Header)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set(HeaderQuotaSince, strconv.FormatUint(p.since, 10))
	resp, err := p.w.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the leader: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the leader answered HTTP %d to the quota push", resp.StatusCode)
	}
	for id, n := range at {
		p.last[id] = n
	}
	if s, err := strconv.ParseUint(resp.Header.Get(HeaderQuotaSince), 10, 64); err == nil {
		p.since = s
	}
	if !p.adopt {
		return nil
	}
	sc := bufio.NewScanner(resp.Body)
	now = time.Now()
	for sc.Scan() {
		var cl countLine
		if json.Unmarshal(sc.Bytes(), &cl) != nil || cl.Typ != "apkcount" {
			continue
		}
		leader := quota.Counts{Win: cl.Win, Day: cl.Day, Month: cl.Month}
		pushed := at[cl.Apk]
		p.counters.Raise(cl.Apk, leader, pushed, now)
		// What is counted beyond the leader's count was not pushed yet: the next push sends it.
		p.last[cl.Apk] = quota.Counts{Win: max(leader.Win, pushed.Win), Day: max(leader.Day, pushed.Day), Month: max(leader.Month, pushed.Month)}
	}
	return sc.Err()
}
