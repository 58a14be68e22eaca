package apikey

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestKeysNeverPrintSecrets(t *testing.T) {
	s := testKeys(t)
	k := s.Get("keyA")
	src := ApiKey{ClientID: "keyA", ClientName: "key A", ClientSecret: secretA}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("auth", "key", k, "entity", src)
	out := logs.String() + fmt.Sprint(k, src) + fmt.Sprintf("%v %+v %s %#v %#v", k, src, &src, k, src)
	if strings.Contains(out, secretA) || strings.Contains(out, secretA[:16]) {
		t.Fatalf("secret printed: %s", out)
	}
	if !strings.Contains(out, `"clientId":"keyA"`) || !strings.Contains(out, "keyA") {
		t.Fatalf("identity missing: %s", out)
	}
}
