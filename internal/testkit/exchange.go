package testkit

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ExchangeBackend is a backend that implements Otoroshi's exchange protocol
// from its description (../shared/OTOROSHI.md), with golang-jwt rather
// than Torii's code, so that tests compare Torii with the spec and not with
// itself:
//
//   - V1: the Otoroshi-State value is echoed in Otoroshi-State-Resp;
//   - V2 (a state with two dots): the state token must verify with HS512
//     and Secret, with iss and sub "Otoroshi", exp, iat, nbr, jti and
//     state; the answer is an HS512 token with aud "Otoroshi", state-resp
//     the state, iat, nbf and exp 10 s later;
//   - an Otoroshi-Claim is verified with HS512 and Secret (iss Otoroshi,
//     exp) and its claims recorded.
//
// Mode makes it misbehave: "wrong" answers an altered value, "replay" the
// first answer it ever gave, "none" no answer. Safe for concurrent use.
type ExchangeBackend struct {
	Secret string

	mu     sync.Mutex
	mode   string
	first  string
	reqs   []ExchangeRequest
	errors []string
}

// ExchangeRequest is what the backend saw of one request.
type ExchangeRequest struct {
	Host   string
	Header http.Header
	Claim  jwt.MapClaims // the verified Otoroshi-Claim, nil when none
	State  jwt.MapClaims // the verified V2 state token, nil for V1 or none
}

// NewExchangeBackend starts an ExchangeBackend on a loopback port until the
// test ends and returns it with its address.
func NewExchangeBackend(t testing.TB, secret string) (*ExchangeBackend, string) {
	t.Helper()
	b := &ExchangeBackend{Secret: secret}
	return b, Backend(t, b)
}

// SetMode sets how the backend answers the challenge from now on.
func (b *ExchangeBackend) SetMode(mode string) {
	b.mu.Lock()
	b.mode = mode
	b.mu.Unlock()
}

// Requests returns the requests seen so far.
func (b *ExchangeBackend) Requests() []ExchangeRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ExchangeRequest(nil), b.reqs...)
}

// Errors returns what the backend found wrong in the requests it got.
func (b *ExchangeBackend) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *ExchangeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := ExchangeRequest{Host: r.Host, Header: r.Header.Clone()}
	key := func(*jwt.Token) (any, error) { return []byte(b.Secret), nil }
	if c := r.Header.Get("Otoroshi-Claim"); c != "" {
		tok, err := jwt.Parse(c, key, jwt.WithValidMethods([]string{"HS512"}), jwt.WithIssuer("Otoroshi"), jwt.WithExpirationRequired())
		if err != nil {
			b.errors = append(b.errors, "Otoroshi-Claim: "+err.Error())
		} else {
			seen.Claim = tok.Claims.(jwt.MapClaims)
		}
	}
	state := r.Header.Get("Otoroshi-State")
	answer := state
	if strings.Count(state, ".") == 2 {
		tok, err := jwt.Parse(state, key, jwt.WithValidMethods([]string{"HS512"}), jwt.WithIssuer("Otoroshi"),
			jwt.WithSubject("Otoroshi"), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
		if err != nil {
			b.errors = append(b.errors, "Otoroshi-State: "+err.Error())
			b.reqs = append(b.reqs, seen)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c := tok.Claims.(jwt.MapClaims)
		for _, k := range []string{"aud", "nbr", "jti", "state"} {
			if c[k] == nil {
				b.errors = append(b.errors, "Otoroshi-State: no "+k+" claim")
			}
		}
		seen.State = c
		now := time.Now()
		answer, _ = jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"aud": "Otoroshi", "state-resp": c["state"],
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Second).Unix()}).SignedString([]byte(b.Secret))
	}
	b.reqs = append(b.reqs, seen)
	if state != "" && b.first == "" {
		b.first = answer
	}
	switch b.mode {
	case "wrong":
		answer = strings.ToUpper(answer[:len(answer)/2]) + answer[len(answer)/2:]
	case "replay":
		answer = b.first
	}
	if state != "" && b.mode != "none" {
		w.Header().Set("Otoroshi-State-Resp", answer)
	}
	w.Header().Set("X-Powered-By", "exchange-backend")
	_, _ = w.Write([]byte("secured"))
}
