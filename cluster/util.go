package cluster

import (
	"compress/gzip"
	"encoding/base64"
	"io"
)

func basicAuth(k Key) string {
	return base64.StdEncoding.EncodeToString([]byte(k.ClientID + ":" + k.Secret))
}

func gzipNewReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
