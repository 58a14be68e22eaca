package otoroshi

import "time"

// Export builds an Otoroshi export: every array of Kinds from lists (missing ones are written
// empty, so Otoroshi can read the file), the global config, the extra top-level fields an import
// kept, and the date now. The result shares the documents it is given.
func Export(lists map[string][]any, config map[string]any, extra map[string]any, now time.Time) map[string]any {
	doc := make(map[string]any, len(Kinds)+len(extra)+4)
	for k, v := range extra {
		doc[k] = v
	}
	doc["label"] = "Otoroshi export"
	doc["dateRaw"] = now.UnixMilli()
	doc["date"] = now.UTC().Format("2006-01-02 15:04:05")
	doc["config"] = config
	for _, k := range Kinds {
		l := lists[k.Array]
		if l == nil {
			l = []any{}
		}
		doc[k.Array] = l
	}
	return doc
}
