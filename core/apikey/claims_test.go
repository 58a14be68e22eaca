package apikey

import (
	"strings"
	"testing"
)

func TestWalkObject(t *testing.T) {
	f := func(in string, wantOK bool, want string) {
		t.Helper()
		var got []string
		ok := walkObject([]byte(in), func(name, value []byte) bool {
			got = append(got, string(name)+"="+string(value))
			return true
		})
		if ok != wantOK || (ok && strings.Join(got, ";") != want) {
			t.Fatalf("walkObject(%s) = %v %q, want %v %q", in, ok, got, wantOK, want)
		}
	}
	f(`{}`, true, "")
	f(` { "a" : 1 , "b":"x\"y" } `, true, `a=1;b="x\"y"`)
	f(`{"a":{"b":[1,{"c":"}"}]},"d":true}`, true, `a={"b":[1,{"c":"}"}]};d=true`)
	f(`{"a":1,}`, false, "")
	f(`{"a":1} x`, false, "")
	f(`{"a" 1}`, false, "")
	f(`{"a":}`, false, "")
	f(`{"a":"unterminated}`, false, "")
	f(`{"a":"ctl`+"\x01"+`"}`, false, "")
	f(`[1]`, false, "")
	f(`{"a":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, false, "")
	f(``, false, "")
}

func TestJSONIntAndString(t *testing.T) {
	fi := func(in string, want int64, wantOK bool) {
		t.Helper()
		got, ok := jsonInt([]byte(in))
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("jsonInt(%q) = %d %v", in, got, ok)
		}
	}
	fi("1700000000", 1700000000, true)
	fi("-5", -5, true)
	fi("1700000000.75", 1700000000, true)
	fi("1e9", 0, false)
	fi("1.", 0, false)
	fi("-", 0, false)
	fi("99999999999999999999", 0, false)
	fs := func(in, want string, wantOK bool) {
		t.Helper()
		got, ok := jsonString([]byte(in), make([]byte, 0, 64))
		if ok != wantOK || (ok && string(got) != want) {
			t.Fatalf("jsonString(%q) = %q %v", in, got, ok)
		}
	}
	fs(`"abc"`, "abc", true)
	fs(`"a\/b\u0041\n"`, "a/bA\n", true)
	fs(`"\u00e9"`, "", false)
	fs(`"\u12"`, "", false)
	fs(`"\x"`, "", false)
	fs(`abc`, "", false)
}
