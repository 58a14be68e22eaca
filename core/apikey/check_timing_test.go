package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/internal/testkit"
)

// Lookup plus quota check. Baseline: the straightforward design, one mutex
// around one map from client id to key and counts, with the same window
// logic (including the cached calendar bounds).

const benchKeys = 64

func benchKeyList() ([]ApiKey, [][]byte) { return benchKeyListN(benchKeys) }

func benchKeyListN(n int) ([]ApiKey, [][]byte) {
	keys := make([]ApiKey, n)
	ids := make([][]byte, n)
	for i := range keys {
		k := Defaults()
		k.ClientID = "client" + strconv.Itoa(100000+i) + "xxxxx" // 16 chars, like Otoroshi's
		k.ClientSecret, k.ClientName = secretA, "bench"
		keys[i], ids[i] = k, []byte(k.ClientID)
	}
	return keys, ids
}

type baselineEntry struct {
	key                                  *Key
	win, winCalls, day, dayCalls, month  int64
	monthCalls, dayStart, dayEnd, mStart int64
}

type mutexMap struct {
	mu sync.Mutex
	m  map[string]*baselineEntry
}

func newMutexMap(s *Set) *mutexMap {
	mm := &mutexMap{m: make(map[string]*baselineEntry)}
	for k := range s.All() {
		mm.m[k.ClientID] = &baselineEntry{key: k}
	}
	return mm
}

// take looks id up and counts a call, all under the one lock.
func (mm *mutexMap) take(id []byte, now time.Time) bool {
	ns := now.UnixNano()
	win := ns / int64(quota.ThrottleWindow)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	e := mm.m[string(id)]
	if e == nil {
		return false
	}
	if ns < e.dayStart || ns >= e.dayEnd {
		y, m, d := now.Date()
		e.dayStart = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixNano()
		e.dayEnd = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).UnixNano()
		e.mStart = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	}
	if e.win != win {
		e.win, e.winCalls = win, 0
	}
	if e.day != e.dayStart {
		e.day, e.dayCalls = e.dayStart, 0
	}
	if e.month != e.mStart {
		e.month, e.monthCalls = e.mStart, 0
	}
	lim := e.key.Limits
	if e.winCalls+1 > lim.Throttle || e.dayCalls+1 > lim.Daily || e.monthCalls+1 > lim.Monthly {
		return false
	}
	e.winCalls++
	e.dayCalls++
	e.monthCalls++
	return true
}

var sinkOK bool

func BenchmarkLookupAndTake(b *testing.B) {
	keys, ids := benchKeyList()
	q := quota.New(quota.Options{})
	s, err := CompileWith(keys, CompileOptions{Counters: q})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			k := s.Lookup(ids[i%benchKeys])
			sinkOK, _, _ = s.Count(q, k, testNow)
			i++
		}
	})
}

func BenchmarkLookupAndTakeMutexMap(b *testing.B) {
	keys, ids := benchKeyList()
	s, err := Compile(keys)
	if err != nil {
		b.Fatal(err)
	}
	mm := newMutexMap(s)
	b.ReportAllocs()
	i := 0
	testkit.ReportCPU(b, func() {
		for b.Loop() {
			sinkOK = mm.take(ids[i%benchKeys], testNow)
			i++
		}
	})
}

// The parallel benchmarks run one worker per core, as the event loops do.
// Shared: every worker counts calls of the same 64 keys, so each call finds
// the key's counters on the other core's cache line (the worst case: one hot
// client hammering every loop). Own: each worker counts its own keys, the
// usual case of many clients spread over the loops, where only the
// baseline's single lock is shared.

func BenchmarkLookupAndTakeParallel(b *testing.B)         { benchParallelTake(b, false, torii) }
func BenchmarkLookupAndTakeParallelMutexMap(b *testing.B) { benchParallelTake(b, false, baseline) }
func BenchmarkLookupAndTakeParallelOwnKeys(b *testing.B)  { benchParallelTake(b, true, torii) }
func BenchmarkLookupAndTakeParallelOwnKeysMutexMap(b *testing.B) {
	benchParallelTake(b, true, baseline)
}

const (
	torii    = false
	baseline = true
)

func benchParallelTake(b *testing.B, ownKeys, mutexMap bool) {
	workers := runtime.GOMAXPROCS(0)
	keys, _ := benchKeyListN(benchKeys * workers)
	s, err := CompileWith(keys, CompileOptions{Counters: quota.New(quota.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	var take func(id []byte) bool
	if mutexMap {
		mm := newMutexMap(s)
		take = func(id []byte) bool { return mm.take(id, testNow) }
	} else {
		take = func(id []byte) bool {
			ok, _, _ := s.Count(s.counters, s.Lookup(id), testNow)
			return ok
		}
	}
	// Each worker has its own copy of the ids it sends, as each loop reads
	// ids from its own connections' buffers.
	ids := make([][][]byte, workers)
	for w := range ids {
		first := 0
		if ownKeys {
			first = w * benchKeys
		}
		ids[w] = make([][]byte, benchKeys)
		for j := range ids[w] {
			ids[w][j] = []byte(keys[first+j].ClientID)
		}
	}
	var worker atomic.Int64
	b.ReportAllocs()
	testkit.ReportCPU(b, func() {
		b.RunParallel(func(pb *testing.PB) {
			w := int(worker.Add(1)-1) % workers
			own, i := ids[w], w*97
			for pb.Next() {
				take(own[i%benchKeys])
				i++
			}
		})
	})
}

// Extraction: a full Check per method, without quotas. Each has a
// standard-library baseline doing the same verification the obvious way.

func benchCheck(b *testing.B, headers ...string) {
	s := testKeys(b)
	p := mustPolicy(b, "", "")
	sc := NewScratch()
	req, buf := parse(b, "GET /api/users HTTP/1.1", headers...)
	groups := []string{"default"}
	if _, rej := p.Check(s, nil, sc, req, buf, "r", groups, testNow); rej != nil {
		b.Fatalf("Check: %v", rej)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		p.Check(s, nil, sc, req, buf, "r", groups, testNow)
	}
}

var jwtHS256 = signJWT("HS256", secretA, `{"iss":"someone","clientId":"keyA","exp":9999999999,"iat":1700000000}`)

func BenchmarkCheckBearer(b *testing.B) {
	benchCheck(b, "Authorization: Bearer "+BearerToken("keyA", secretA))
}
func BenchmarkCheckClientID(b *testing.B) { benchCheck(b, "x-api-key: keyB") }
func BenchmarkCheckCustomHeaders(b *testing.B) {
	benchCheck(b, "Otoroshi-Client-Id: keyA", "Otoroshi-Client-Secret: "+secretA)
}
func BenchmarkCheckJWTHS256(b *testing.B) { benchCheck(b, "Authorization: Bearer "+jwtHS256) }
func BenchmarkCheckJWTHS512(b *testing.B) {
	benchCheck(b, "Authorization: Bearer "+signJWT("HS512", secretA, `{"clientId":"keyA"}`))
}
func BenchmarkCheckBasic(b *testing.B) {
	benchCheck(b, "Authorization: Basic "+basic("keyA", secretA))
}

// BenchmarkStdlibJWTHS256 verifies the same token with crypto/hmac.New,
// base64 DecodeString and encoding/json, as a typical handler would.
func BenchmarkStdlibJWTHS256(b *testing.B) {
	tok := jwtHS256
	b.ReportAllocs()
	for b.Loop() {
		parts := strings.Split(tok, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			b.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			b.Fatal(err)
		}
		if claims["clientId"] != "keyA" {
			b.Fatal("claims")
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		m := hmac.New(sha256.New, []byte(secretA))
		m.Write([]byte(tok[:len(parts[0])+1+len(parts[1])]))
		if !hmac.Equal(m.Sum(nil), sig) {
			b.Fatal("signature")
		}
	}
}

// BenchmarkStdlibBasic decodes Basic credentials with DecodeString and
// strings.Cut, as net/http's Request.BasicAuth does.
func BenchmarkStdlibBasic(b *testing.B) {
	cred := basic("keyA", secretA)
	b.ReportAllocs()
	for b.Loop() {
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			b.Fatal(err)
		}
		id, secret, _ := strings.Cut(string(raw), ":")
		if id != "keyA" || !hmac.Equal([]byte(secret), []byte(secretA)) {
			b.Fatal("credentials")
		}
	}
}
