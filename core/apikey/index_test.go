package apikey

import (
	"strconv"
	"testing"
	"unsafe"
)

func TestIndexFindsEveryKey(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 1000} {
		keys := make([]ApiKey, n)
		for i := range keys {
			keys[i] = Defaults()
			keys[i].ClientID, keys[i].ClientSecret, keys[i].ClientName = "id"+strconv.Itoa(i), secretA, "n"
		}
		s, err := Compile(keys)
		if err != nil {
			t.Fatalf("%d keys: Compile: %v", n, err)
		}
		for i := range keys {
			id := keys[i].ClientID
			if k := s.Get(id); k == nil || k.ClientID != id {
				t.Fatalf("%d keys: Get(%q) = %v", n, id, k)
			}
			if k := s.Lookup([]byte(id)); k == nil || k.ClientID != id {
				t.Fatalf("%d keys: Lookup(%q) = %v", n, id, k)
			}
		}
		// Absent ids, including prefixes and extensions of present ones, and
		// the empty id.
		for _, id := range []string{"", "id", "id" + strconv.Itoa(n), "id1x", "x"} {
			if k := s.Lookup([]byte(id)); k != nil {
				t.Fatalf("%d keys: Lookup(%q) = %q, want nil", n, id, k.ClientID)
			}
			if k := s.Get(id); k != nil {
				t.Fatalf("%d keys: Get(%q) = %q, want nil", n, id, k.ClientID)
			}
		}
	}
}

func TestZeroSetFindsNothing(t *testing.T) {
	var s Set
	if s.Lookup([]byte("a")) != nil || s.Get("a") != nil || s.Len() != 0 {
		t.Fatal("the zero Set found a key")
	}
}

// TestSetLayout checks what keeps the Set off cache lines written by other
// objects: the struct fills one line, allocated on a line boundary, and a
// the index's directory and pages cannot grow into their padding.
func TestSetLayout(t *testing.T) {
	if n := unsafe.Sizeof(Set{}); n != cacheLine {
		t.Fatalf("Set is %d bytes, want one %d-byte line", n, cacheLine)
	}
	s := testKeys(t)
	if p := uintptr(unsafe.Pointer(s)); p%cacheLine != 0 {
		t.Fatalf("Set at %#x is not on a line boundary", p)
	}
	if cap(s.index.pages) != len(s.index.pages) {
		t.Fatal("the index directory can grow into its padding")
	}
	for _, p := range s.index.pages {
		if cap(p.slots) != len(p.slots) {
			t.Fatal("index slots can grow into their padding")
		}
	}
}
