package event

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxBackoff caps the delay between webhook retries.
const maxBackoff = 30 * time.Second

// maxDrainBody bounds how much of a webhook answer is read to reuse the
// connection; a hostile endpoint cannot make us read forever.
const maxDrainBody = 64 << 10

// webhookSink POSTs each batch as one JSON array, retrying transport errors,
// 408, 429 and 5xx answers with exponential backoff.
type webhookSink struct {
	cfg    WebhookConfig
	client *http.Client
	body   []byte // exporter goroutine only; reused across batches
}

func (w *webhookSink) write(ctx context.Context, batch [][]byte) (int, error) {
	body := append(w.body[:0], '[')
	for i, d := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, d...)
	}
	body = append(body, ']')
	w.body = body
	if cap(w.body) > maxKeptBatchBuf {
		w.body = nil
	}

	delay := time.Duration(w.cfg.BackoffMs) * time.Millisecond
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return attempt, nil
		}
		if !retry || attempt >= w.cfg.Retries {
			return attempt + 1, fmt.Errorf("cannot deliver %d events to %s after %d attempts: %w: %w", len(batch), w.cfg.URL, attempt+1, ErrDelivery, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt + 1, fmt.Errorf("cannot deliver %d events to %s: %w: %w", len(batch), w.cfg.URL, ErrDelivery, ErrStopping)
		case <-t.C:
		}
		delay = min(delay*2, maxBackoff)
	}
}

// post makes one attempt; retry says whether another attempt may succeed.
func (w *webhookSink) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w.cfg.TimeoutMs)*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("cannot build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("cannot post events: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return false, nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return true, fmt.Errorf("webhook answered %d", s)
	default:
		return false, fmt.Errorf("webhook answered %d", s)
	}
}

func (w *webhookSink) close() error { return nil }
