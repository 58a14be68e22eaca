package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/torii-gateway/torii/httpparse"
)

// refAnswer is a reference backend's answer to a state token, written from
// Otoroshi's protocol description with golang-jwt (not this package's
// code): it verifies the V2 token (HS512, iss/sub Otoroshi, aud the route
// name, nbr, jti, state) and answers state-resp in a token for aud
// Otoroshi. For V1 it echoes the value.
func refAnswer(t *testing.T, v2 bool, state, secret string, now time.Time, ttl time.Duration) string {
	t.Helper()
	if !v2 {
		return state
	}
	tok, err := jwt.Parse(state, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS512"}), jwt.WithAudience("my-route"), jwt.WithIssuer("Otoroshi"),
		jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("reference backend refuses the state token: %v", err)
	}
	c := tok.Claims.(jwt.MapClaims)
	if c["sub"] != "Otoroshi" || c["nbr"] == nil || c["jti"] == nil || c["state"] == nil {
		t.Fatalf("state token claims %v", c)
	}
	resp := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
		"aud": "Otoroshi", "state-resp": c["state"], "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "nbf": now.Unix()})
	s, err := resp.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func respWith(t *testing.T, field, value string) (*httpparse.Response, []byte) {
	t.Helper()
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	if field != "" {
		raw += field + ": " + value + "\r\n"
	}
	buf := []byte(raw + "\r\n")
	resp := &httpparse.Response{Headers: make([]httpparse.Header, 0, 8)}
	if _, err := httpparse.ParseResponse(buf, resp, &httpparse.Limits{}); err != nil {
		t.Fatal(err)
	}
	return resp, buf
}

func TestChallenge(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		version := map[bool]string{false: "V1", true: "V2"}[v2]
		c := mustChain(t, "OtoroshiChallenge", `{"version":"`+version+`","ttl":30}`)
		x := parseReq(t, "GET / HTTP/1.1\r\nOtoroshi-State: forged\r\n\r\n")
		x.Now = time.Now()
		if !c.DropRequest([]byte("otoroshi-state"), &Exchange{}) || !c.DropResponse([]byte("Otoroshi-State-Resp"), &Exchange{}) {
			t.Fatal("protocol fields must not pass through")
		}
		var xs Exchange
		state := fieldValue(string(c.AppendRequest(nil, x, &xs)), "Otoroshi-State")
		good := refAnswer(t, v2, state, "secret", x.Now, 10*time.Second)
		check := func(name, value string, want bool) {
			t.Helper()
			resp, buf := respWith(t, name, value)
			if got := c.CheckResponse(resp, buf, x, &xs); got != want {
				t.Errorf("%s: answer %q accepted=%v, want %v", version, value, got, want)
			}
		}
		check("Otoroshi-State-Resp", good, true)
		check("otoroshi-state-resp", good, true)
		check("", "", false)
		check("Otoroshi-State-Resp", "wrong", false)
		// A replayed answer: the next exchange has a new state.
		var xs2 Exchange
		c.AppendRequest(nil, x, &xs2)
		resp, buf := respWith(t, "Otoroshi-State-Resp", good)
		if c.CheckResponse(resp, buf, x, &xs2) {
			t.Errorf("%s: a replayed answer was accepted", version)
		}
		if !v2 {
			continue
		}
		// Wrong key, too long a ttl, expired, wrong audience.
		check("Otoroshi-State-Resp", refAnswer(t, true, state, "secret", x.Now, 31*time.Second), false)
		check("Otoroshi-State-Resp", refAnswer(t, true, state, "secret", x.Now.Add(-time.Minute), 10*time.Second), false)
		bad := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"aud": "Other", "state-resp": xs.stateString(),
			"iat": x.Now.Unix(), "exp": x.Now.Add(10 * time.Second).Unix()})
		s, _ := bad.SignedString([]byte("secret"))
		check("Otoroshi-State-Resp", s, false)
		wrongKey := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"aud": "Otoroshi", "state-resp": xs.stateString(),
			"iat": x.Now.Unix(), "exp": x.Now.Add(10 * time.Second).Unix()})
		s, _ = wrongKey.SignedString([]byte("not-the-secret"))
		check("Otoroshi-State-Resp", s, false)
		hs256 := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": "Otoroshi", "state-resp": xs.stateString(),
			"iat": x.Now.Unix(), "exp": x.Now.Add(10 * time.Second).Unix()})
		s, _ = hs256.SignedString([]byte("secret"))
		check("Otoroshi-State-Resp", s, false)
		if !strings.Contains(s, ".") {
			t.Fatal("bad token")
		}
	}
}

func (x *Exchange) stateString() string { return string(x.state[:]) }
