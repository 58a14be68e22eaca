// Package otoroshi converts between Otoroshi's formats and Torii's entities: it reads an Otoroshi
// export (Read: routes, service groups, API keys, data exporters and the global config, legacy
// ServiceDescriptors converted into routes, stored backends inlined) with a report of what Torii
// does not implement, and writes one back (Export). It knows the format, not the store: the admin
// package validates, stores and publishes what Read returns.
//
// # Caveats
//
// Functions work on documents decoded by internal/jsonx (map[string]any, []any, json.Number...).
// Read and DescriptorToRoute may modify and keep the documents they are given; callers hand them
// a document they own. Nothing here blocks or keeps state; every function is safe for concurrent
// use on distinct documents.
package otoroshi
