package admin

import (
	"context"
	"sync"
	"time"
)

// Certificate expiry: a gauge with each stored certificate's end of validity, and Otoroshi's
// alerts through the data exporters: CertAlmostExpiredAlert from AlertBefore before the end,
// CertExpiredAlert once it is past, each sent once per certificate and validity.

// AlertBefore is how long before its end a certificate is reported as almost expired.
const AlertBefore = 30 * 24 * time.Hour

// certCheckEvery is how often the expiry of the certificates is checked.
const certCheckEvery = time.Hour

// Otoroshi's alert names.
const (
	alertCertAlmostExpired = "CertAlmostExpiredAlert"
	alertCertExpired       = "CertExpiredAlert"
)

// alertPublisher sends AlertEvents; *event.Hub satisfies it.
type alertPublisher interface {
	PublishAlert(name string, fields map[string]any) error
}

// certAlerts remembers which alerts were sent, by certificate id, alert and end of validity.
type certAlerts struct {
	mu   sync.Mutex
	sent map[string]bool
}

// setAlerts replaces where the expiry alerts go (tests).
func (s *Server) setAlerts(a alertPublisher) {
	s.certAlerts.mu.Lock()
	s.alerts = a
	s.certAlerts.mu.Unlock()
}

// checkCertExpiry sends the expiry alerts due at now for the published certificates.
func (s *Server) checkCertExpiry(now time.Time) {
	c := s.published.Load()
	s.certAlerts.mu.Lock()
	defer s.certAlerts.mu.Unlock()
	if c == nil || s.alerts == nil {
		return
	}
	if s.certAlerts.sent == nil {
		s.certAlerts.sent = map[string]bool{}
	}
	for _, ci := range c.certs {
		name := ""
		switch {
		case !now.Before(ci.NotAfter):
			name = alertCertExpired
		case ci.NotAfter.Sub(now) <= AlertBefore:
			name = alertCertAlmostExpired
		default:
			continue
		}
		key := ci.ID + "\x00" + name + "\x00" + ci.NotAfter.String()
		if s.certAlerts.sent[key] {
			continue
		}
		s.certAlerts.sent[key] = true
		fields := map[string]any{
			"cert": map[string]any{"id": ci.ID, "name": ci.Name, "domain": ci.Domain, "subject": ci.Subject,
				"sans": ci.SANs, "to": ci.NotAfter.UnixMilli()},
			"remainingDays": int(ci.NotAfter.Sub(now).Hours() / 24),
		}
		if err := s.alerts.PublishAlert(name, fields); err != nil {
			s.log.Error("cannot publish certificate alert", "certificate", ci.ID, "err", err)
		}
	}
}

// watchCertExpiry checks the certificates' expiry now and every certCheckEvery until ctx ends.
func (s *Server) watchCertExpiry(ctx context.Context) {
	t := time.NewTicker(certCheckEvery)
	defer t.Stop()
	for {
		s.checkCertExpiry(s.now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// registerCertMetrics exports each stored certificate's end of validity.
func (s *Server) registerCertMetrics() {
	if s.opts.Metrics == nil {
		return
	}
	s.opts.Metrics.GaugeVecFunc("torii_certificate_expiry_timestamp_seconds",
		"End of validity of each stored certificate (Unix seconds).", []string{"id"},
		func(emit func(float64, ...string)) {
			if c := s.published.Load(); c != nil {
				for _, ci := range c.certs {
					emit(float64(ci.NotAfter.Unix()), ci.ID)
				}
			}
		})
}
