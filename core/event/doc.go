// Package event records one GatewayEvent per proxied request and exports
// events (gateway, audit, alert) to data exporters, so that the event loops
// pay almost nothing for it.
//
// The hot path: each event loop owns a Ring (single producer, single
// consumer) of fixed-size Records. An exchange spans callbacks (headers are
// only readable while the request is parsed, the status and sizes only known
// at the end), so the loop fills a Record it owns (one per exchange) as the
// exchange progresses, its Fields and, with the setters, the variable-length
// parts (host, URIs, headers) in its arena, and Pushes it at the end, which
// copies the used part into a slot. Goroutines that own no ring (pumps, tunnels) use PushShared,
// which serialises on a mutex. Nothing allocates; a full ring drops the
// record and counts it. Request ids come from a per-loop IDGen
// (snowflake: milliseconds, loop id, sequence), formatted with AppendID into
// the caller's buffer.
//
// Off the loop: Hub.Run drains the rings in batches (a pass every
// PollInterval, at once again only while a ring is backed up; the loops never
// signal it), encodes each Record as Otoroshi's GatewayEvent JSON with a
// hand-written appender into a reused buffer, optionally writes an access log
// line, and gives the document to every exporter whose filter accepts it.
// Each exporter (webhook, file, console; Otoroshi's DataExporterConfig shape)
// has a bounded queue of bufferSize documents and a goroutine that sends
// batches of groupSize at least every groupDuration (the file exporter: one
// write per batch); a full queue drops and counts. The drain goroutine hands
// documents over once per pass or per groupSize, so an exporter wakes once
// per group of events, not once per event. Encoded documents live in pooled,
// reference-counted buffers shared by the exporters that accept them, and
// the drain's filtering state is reused, so exporting allocates nothing per
// event in steady state (TestExportAllocs). A dead webhook therefore costs
// nothing but dropped, counted events. Publish feeds audit and alert
// documents through the same exporters.
//
// # Caveats
//
// A Ring's Push must be called by its one loop only. A slot belongs to the
// drain goroutine once pushed; the Record pushed stays the loop's, to Reset
// and reuse. Strings and the *Identity
// stored in Fields are referenced, not copied: they must be immutable and
// never reused for other content (snapshot strings are). Bytes passed to the
// setters are copied and may die right after the call (gnet's Peek buffers).
// The accessors (Host, URI, ...) alias the slot and are valid only inside the
// drain callback. IDGen is single-goroutine; SharedIDGen is safe anywhere.
// Hub methods are safe for concurrent use; SetExporters and Close can block
// up to a couple of seconds per stopped exporter while it flushes. Exporter
// counters restart when an exporter's config changes. Events reach an
// exporter's queue up to PollInterval after the loop recorded them.
package event
