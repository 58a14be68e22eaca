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
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("auth", "key", k, "entity", *k.Source)
	out := logs.String() + fmt.Sprint(k, *k.Source) + fmt.Sprintf("%v %+v %s %#v %#v", k, *k.Source, k.Source, k, *k.Source)
	if strings.Contains(out, secretA) || strings.Contains(out, secretA[:16]) {
		t.Fatalf("secret printed: %s", out)
	}
	if !strings.Contains(out, `"clientId":"keyA"`) || !strings.Contains(out, "keyA") {
		t.Fatalf("identity missing: %s", out)
	}
}
