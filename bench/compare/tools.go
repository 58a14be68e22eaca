package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ensureTools installs nginx, haproxy and wrk from Debian when missing.
func ensureTools(install bool) error {
	var missing []string
	for _, t := range []struct{ bin, pkg string }{{"nginx", "nginx"}, {"haproxy", "haproxy"}, {"wrk", "wrk"}, {"taskset", "util-linux"}} {
		if _, err := lookPath(t.bin); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !install || os.Geteuid() != 0 {
		return fmt.Errorf("cannot run without %s: install them (apt-get install -y %s) or run as root",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	logf("installing %s with apt-get", strings.Join(missing, " "))
	// Keep apt from starting the nginx and haproxy system services: the
	// comparison runs its own foreground processes and must leave nothing
	// running. policy-rc.d exiting 101 is Debian's "do not start" switch.
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); os.IsNotExist(err) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# bench/compare: no service starts during its apt-get\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policy)
		}
	}
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("cannot apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// lookPath also searches the sbin directories, where Debian puts nginx and
// haproxy but which a non-root PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot find %s: %w", name, exec.ErrNotFound)
}
