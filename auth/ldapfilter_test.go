package auth

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Filters encode as RFC 4511 BER; bad ones are refused; a user name never
// changes a filter's structure.
func TestParseFilter(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := parseFilter(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if hex.EncodeToString(got) != want {
			t.Fatalf("%s:\n got %x\nwant %s", in, got, want)
		}
	}
	f("(uid=bob)", "a30a04037569640403626f62")
	f("uid=bob", "a30a04037569640403626f62")
	f("(objectClass=*)", "870b6f626a656374436c617373")
	f("(&(uid=a)(cn=b))", "a013a3080403756964040161a3070402636e040162")
	f("(!(uid=a))", "a20aa3080403756964040161")
	f("(cn=a*b*c)", "a40f0402636e3009800161810162820163")
	f("(uid=\\2a)", "a308040375696404012a")
	for _, bad := range []string{"", "(uid=a", "(uid)", "(=a)", "(uid:=a)", "(uid=a)(cn=b)", "(uid=a(b)", "(uid=\\zz)", strings.Repeat("(!", 40) + "(a=b)" + strings.Repeat(")", 40)} {
		if _, err := parseFilter(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if got := escapeFilterValue("a*b(c)d\\e\x00"); got != `a\2ab\28c\29d\5ce\00` {
		t.Fatalf("escape = %q", got)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"(uid=${username})", "(&(objectClass=groupOfNames)(cn=admins))", "(cn=a*b)", "(!(a>=1))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc, err := parseFilter(s)
		if err != nil {
			return
		}
		if _, rest, err := berNext(enc); err != nil || len(rest) != 0 {
			t.Fatalf("%q encodes to a broken element %x: %v", s, enc, err)
		}
	})
}
