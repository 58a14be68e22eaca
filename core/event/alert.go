package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Alert names, as Otoroshi's AlertEvent "alert" field.
const (
	AlertCircuitBreakerOpened = "CircuitBreakerOpenedAlert"
	AlertCircuitBreakerClosed = "CircuitBreakerClosedAlert"
	AlertQuotaAlmostExceeded  = "ApiKeyQuotasAlmostExceededAlert"
)

// Event kinds given to Publish.
const (
	KindGateway = "GatewayEvent"
	KindAudit   = "AuditEvent"
	KindAlert   = "AlertEvent"
)

// PublishAlert publishes an AlertEvent {"@type":"AlertEvent", "@id",
// "@timestamp", "@product":"otoroshi", "@env", "alert": name, ...fields}.
// fields must encode as JSON; keys starting with '@' or named "alert" are
// ignored. Off the loop only (it allocates); safe for concurrent use.
func (h *Hub) PublishAlert(name string, fields map[string]any) error {
	now := time.Now()
	doc := make(map[string]any, len(fields)+6)
	for k, v := range fields {
		if k != "" && k[0] != '@' && k != "alert" {
			doc[k] = v
		}
	}
	doc["@type"] = KindAlert
	doc["@id"] = fmt.Sprint(h.ids.Next(now.UnixMilli()))
	doc["@timestamp"] = now.UnixMilli()
	doc["@product"] = "otoroshi"
	doc["@env"] = h.opts.Env
	doc["alert"] = name
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("cannot encode alert %s: %w", name, err)
	}
	h.Publish(KindAlert, b)
	return nil
}
