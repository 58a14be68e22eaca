package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/torii-gateway/torii/core/event"
)

// bucketExporters holds the data exporter configs (/api/data-exporter-configs), keyed by id.
const bucketExporters = "dataexporters"

const exporterDefaults = `{"_loc":` + locDefault + `,"name":"","desc":"","type":"console","enabled":false,
	"bufferSize":5000,"groupSize":100,"groupDuration":30000,"filtering":{"include":[],"exclude":[]},
	"config":{},"tags":[],"metadata":{}}`

func genExporterID(doc map[string]any) {
	if s, _ := doc["id"].(string); s == "" {
		doc["id"] = "data_exporter_" + newUUID()
	}
}

// exporterTemplate is Otoroshi's template of a new data exporter: a disabled console exporter
// with the event package's defaults.
func exporterTemplate() map[string]any {
	raw, err := json.Marshal(event.DefaultExporterConfig())
	if err != nil {
		panic("BUG: default exporter config does not encode: " + err.Error())
	}
	d := mustObject(string(raw))
	d["name"] = "New data exporter"
	d["desc"] = "A new data exporter"
	fillDefaults(d, exporterDefaults)
	genExporterID(d)
	return d
}

// checkExporter types the fields, then lets the event package validate the config the way the
// hub will (sizes, filters, webhook URL, file path, kafka brokers). A type Torii does not run (elastic...)
// is accepted and kept: the hub lists it and does not start it.
func checkExporter(c *checker, doc map[string]any) {
	checkID(c, doc, "id")
	c.str(doc, "name", "", false)
	c.str(doc, "desc", "", false)
	c.str(doc, "type", "", true)
	c.boolean(doc, "enabled", "")
	c.integer(doc, "bufferSize", "", 1, event.MaxBufferSize)
	c.integer(doc, "groupSize", "", 1, event.MaxGroupSize)
	c.integer(doc, "groupDuration", "", 1, 1<<40)
	if f := c.object(doc, "filtering", "", false); f != nil {
		c.array(f, "include", "filtering")
		c.array(f, "exclude", "filtering")
		checkFilterLimits(c, f)
	}
	c.object(doc, "config", "", false)
	c.common(doc)
	if len(c.errs) > 0 {
		return
	}
	cfg, err := decodeExporter(doc)
	if err != nil {
		c.add("", "%s", err.Error())
		return
	}
	if err := cfg.Validate(); err != nil && !errors.Is(err, event.ErrUnsupportedExporter) {
		field, msg := exporterErrorField(err)
		c.add(field, "%s", msg)
	}
}

// decodeExporter turns a stored document into the event package's config.
func decodeExporter(doc map[string]any) (event.ExporterConfig, error) {
	var cfg event.ExporterConfig
	raw, err := json.Marshal(doc)
	if err != nil {
		return cfg, err
	}
	err = json.Unmarshal(raw, &cfg)
	return cfg, err
}

// exporterErrorField splits a Validate error (`exporter "id": field: message: event: ...`) into
// the field and the message.
func exporterErrorField(err error) (field, msg string) {
	s := strings.TrimSuffix(err.Error(), ": "+event.ErrBadConfig.Error())
	if _, rest, ok := strings.Cut(s, `": `); ok && strings.HasPrefix(s, "exporter ") {
		if f, m, ok := strings.Cut(rest, ": "); ok && !strings.ContainsAny(f, " ") {
			return f, m
		}
		return "", rest
	}
	return "", s
}

// exporterConfigs decodes the data exporters of st, ordered by id. They were checked when stored;
// a document that no longer decodes is skipped and reported.
func exporterConfigs(st *state) ([]event.ExporterConfig, []error) {
	var cfgs []event.ExporterConfig
	var errs []error
	for _, e := range st.sorted(kExporters) {
		cfg, err := decodeExporter(e.doc())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, errs
}

// exportersTag identifies the exporter configs of st, so that the hub is reconfigured only when
// they changed.
func exportersTag(st *state) string {
	var b strings.Builder
	for _, e := range st.sorted(kExporters) {
		b.WriteString(e.id)
		b.WriteByte(0)
		b.WriteString(e.etag)
		b.WriteByte(0)
	}
	return b.String()
}

// applyExporters hands the data exporters of st to the event hub (Options.Events) when they
// changed since the last call. A write calls it before committing, so that a config the hub
// cannot start (a file it cannot open) is refused with 400 and not stored; if the commit then
// fails, the write calls it again with the previous state. Call it with s.mu held, or before the
// server is shared.
func (s *Server) applyExporters(st *state) error {
	if s.opts.Events == nil {
		return nil
	}
	tag := exportersTag(st)
	if tag == s.exportersApplied {
		return nil
	}
	cfgs, errs := exporterConfigs(st)
	for _, err := range errs {
		s.log.Error("stored data exporter does not decode; skipped", "err", err)
	}
	if err := s.opts.Events.SetExporters(cfgs); err != nil {
		return &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration",
			Message: "the data exporters cannot be started; nothing was stored",
			Fields:  []FieldError{{Field: "config", Message: err.Error()}}}
	}
	s.exportersApplied = tag
	s.log.Info("data exporters applied", "count", len(cfgs))
	return nil
}

// emitAudits sends committed audit events to the event hub, so that exporters see them too.
func (s *Server) emitAudits(audits [][]byte) {
	if s.opts.Events == nil {
		return
	}
	for _, a := range audits {
		s.opts.Events.Publish(event.KindAudit, a)
	}
}

// handleEventStats answers GET /api/events/stats: the event hub's counters (events recorded and
// lost, and each running exporter's queue, sent, dropped and failed counts).
func (s *Server) handleEventStats(w http.ResponseWriter, _ *http.Request) error {
	if s.opts.Events == nil {
		return &APIError{Status: http.StatusNotImplemented, Code: "errors.not.implemented", Message: "events are not wired to the admin API"}
	}
	return s.writeValue(w, http.StatusOK, s.opts.Events.Stats())
}
