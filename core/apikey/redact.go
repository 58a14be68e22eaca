package apikey

import "log/slog"

// String returns the client id only, so that printing a Key with fmt never
// shows its secrets.
func (k *Key) String() string { return k.ClientID }

// LogValue makes slog log a Key as its client id and name, never its secrets.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", k.ClientID), slog.String("clientName", k.ClientName))
}

// LogValue makes slog log an ApiKey as its client id and name, never its
// secrets.
func (k ApiKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("clientId", k.ClientID), slog.String("clientName", k.ClientName))
}

// String describes an ApiKey without its secrets: the client
// id and name, and "<redacted>" for the secret.
func (k ApiKey) String() string {
	return "ApiKey{clientId:" + k.ClientID + " clientName:" + k.ClientName + " clientSecret:<redacted>}"
}

// GoString keeps %#v from printing the secrets too.
func (k ApiKey) GoString() string { return k.String() }

// GoString keeps %#v from printing the secrets too.
func (k *Key) GoString() string { return "apikey.Key{" + k.ClientID + "}" }
