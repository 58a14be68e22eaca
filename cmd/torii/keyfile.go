package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// keyFile receives the admin key notice (see keyNotice) and writes the key to a file only its
// owner can read, instead of the terminal: under systemd or docker, stderr goes to a journal
// that keeps it. Stderr gets a line saying where the key is, without the secret.
type keyFile struct {
	path string
	w    io.Writer // where the notice goes (stderr)
	buf  []byte
}

func (k *keyFile) Write(p []byte) (int, error) {
	k.buf = append(k.buf, p...)
	text := string(k.buf)
	id, secret := fieldAfter(text, "clientId:"), fieldAfter(text, "clientSecret:")
	if id == "" || secret == "" || !strings.HasSuffix(text, "\n") {
		return len(p), nil
	}
	k.buf = k.buf[:0]
	body := fmt.Sprintf("clientId: %s\nclientSecret: %s\n", id, secret)
	if err := writePrivate(k.path, []byte(body)); err != nil {
		return 0, fmt.Errorf("cannot write the admin API key to --admin-key-file %q: %w", k.path, err)
	}
	_, err := fmt.Fprintf(k.w, "torii: created the admin API key (clientId %s); its secret is in %s (mode 0600), shown nowhere else\n", id, k.path)
	return len(p), err
}

// writePrivate replaces the file at path with data, readable by its owner only: the data goes
// to a temporary file in the same directory, created 0600, synced, then renamed over path.
func writePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".torii-key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
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
	return os.Rename(tmp, path)
}

// checkWritableDir reports whether a file can be created next to path.
func checkWritableDir(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".torii-key-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
