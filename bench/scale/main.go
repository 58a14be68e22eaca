// Command scale generates a Torii configuration at scale (package bench/scalegen):
//
//	go run ./bench/scale -routes 100000 -keys 1000000 -data-dir /tmp/scale   # bbolt, before torii serve
//	go run ./bench/scale -routes 100000 -keys 1000000 -export scale.json     # an Otoroshi export
//
// With -data-dir it stores the entities straight into the database (admin.BulkLoad), which
// torii serve --data-dir then starts on; with -export it writes an export to import.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/torii-gateway/torii/bench/scalegen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	routes := fs.Int("routes", 100_000, "routes to generate")
	keys := fs.Int("keys", 1_000_000, "API keys to generate")
	dataDir := fs.String("data-dir", "", "store into the database of this torii data directory")
	export := fs.String("export", "", "write an Otoroshi export to this file (\"-\": stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*dataDir == "") == (*export == "") {
		return errors.New("give one of -data-dir and -export")
	}
	t0 := time.Now()
	if *dataDir != "" {
		if err := scalegen.Load(*dataDir, *routes, *keys); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "scale: stored %d routes and %d keys in %s in %v\n", *routes, *keys, *dataDir, time.Since(t0).Round(time.Millisecond))
		return nil
	}
	w := os.Stdout
	if *export != "-" {
		f, err := os.Create(*export)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := scalegen.WriteExport(w, *routes, *keys); err != nil {
		return fmt.Errorf("cannot write the export: %w", err)
	}
	fmt.Fprintf(stderr, "scale: wrote %d routes and %d keys in %v\n", *routes, *keys, time.Since(t0).Round(time.Millisecond))
	return nil
}
