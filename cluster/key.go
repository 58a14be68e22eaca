package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Key is a cluster key: a client id and secret that hold the cluster right (reading the state,
// pushing quota increments, listing members) and no other admin right. The admin API key holds
// every right, the cluster right included.
type Key struct {
	ClientID string
	Secret   string
}

// ReadKeyFile reads a key file in the format of --admin-key-file:
//
//	clientId: <id>
//	clientSecret: <secret>
func ReadKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("cannot read the cluster key file: %w", err)
	}
	var k Key
	for _, l := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(name) {
		case "clientId":
			k.ClientID = strings.TrimSpace(val)
		case "clientSecret":
			k.Secret = strings.TrimSpace(val)
		}
	}
	if k.ClientID == "" || k.Secret == "" {
		return Key{}, fmt.Errorf("%w: %s must hold a \"clientId: ...\" and a \"clientSecret: ...\" line", ErrBadKeyFile, path)
	}
	return k, nil
}

// LoadOrCreateKeyFile reads the key file at path, or, when there is none, creates a random key
// there (mode 0600). created says which.
func LoadOrCreateKeyFile(path string) (k Key, created bool, err error) {
	k, err = ReadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k = Key{ClientID: "cluster_" + randomHex(8), Secret: randomHex(32)}
	body := fmt.Sprintf("clientId: %s\nclientSecret: %s\n", k.ClientID, k.Secret)
	if err := writePrivate(path, []byte(body)); err != nil {
		return Key{}, false, fmt.Errorf("cannot write the cluster key file: %w", err)
	}
	return k, true, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writePrivate replaces path with data through a 0600 temporary file, synced then renamed.
func writePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".torii-cluster-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// verifier checks a cluster key in constant time: it compares SHA-256 digests, so neither the
// length nor the content of the secret leaks through timing.
type verifier struct {
	id, secret [sha256.Size]byte
}

func newVerifier(k Key) verifier {
	return verifier{id: sha256.Sum256([]byte(k.ClientID)), secret: sha256.Sum256([]byte(k.Secret))}
}

func (v verifier) verify(id, secret string) bool {
	a, b := sha256.Sum256([]byte(id)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(a[:], v.id[:])&subtle.ConstantTimeCompare(b[:], v.secret[:]) == 1
}
