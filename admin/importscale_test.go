package admin_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/admin"
	"github.com/torii-gateway/torii/bench/scalegen"
)

// TestStreamedImportEqualsDecodedGenerated: generated exports (bench/scalegen), valid, with a
// key without secret and a duplicated client id in the middle, or over the list limit, give the
// same state, report and errors streamed as decoded.
func TestStreamedImportEqualsDecodedGenerated(t *testing.T) {
	const routes, keys = 100, 5000
	var b bytes.Buffer
	if err := scalegen.WriteExport(&b, routes, keys); err != nil {
		t.Fatal(err)
	}
	valid := b.Bytes()
	broken := bytes.Replace(valid, []byte(fmt.Sprintf(`"clientSecret":"secret-%07d-abcdefghijklmnop",`, keys/2)), nil, 1)
	broken = bytes.Replace(broken, []byte(`"`+scalegen.KeyID(keys/2+1)+`"`), []byte(`"`+scalegen.KeyID(keys/3)+`"`), 1)
	for _, c := range []struct {
		name  string
		doc   []byte
		limit int
		want  []string
	}{
		{"valid", valid, admin.DefaultMaxImportEntities, []string{fmt.Sprintf("%d keys", keys)}},
		{"broken", broken, admin.DefaultMaxImportEntities, []string{
			fmt.Sprintf(`"apiKeys[%d].clientSecret"`, keys/2), fmt.Sprintf(`"apiKeys[%d].clientId"`, keys/2+1)}},
		{"over the limit", broken, keys - 1, []string{`"apiKeys"`, "more than the import limit of 4999"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := admin.CompareStreamedImport(c.doc, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("outcome %.500s, want %s", got, w)
				}
			}
			if c.name == "over the limit" && strings.Contains(got, "apiKeys[") {
				t.Errorf("a refused list still names its entities: %.500s", got)
			}
		})
	}
}
