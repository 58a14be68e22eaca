package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/torii-gateway/torii/core/privateapp"
	"go.etcd.io/bbolt"
)

// sessionsFile is the bbolt file of the private-app sessions, in the data
// directory beside torii.db.
const sessionsFile = "privateapps.db"

// openSessions opens (or creates) the private-app session store, so that a
// restart keeps users logged in.
func openSessions(dataDir string) (*privateapp.Sessions, func(), error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("cannot create the data directory %q: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, sessionsFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the session store %q: %w", path, err)
	}
	ss, err := privateapp.Open(db)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return ss, func() { _ = db.Close() }, nil
}
