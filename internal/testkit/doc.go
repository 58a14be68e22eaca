// Package testkit holds the helpers that Torii's tests share: loopback backends, a server run
// for the length of a test, a buffer for a process's output, bounded polling, and the real torii
// binary started on free ports.
//
// Every listener binds 127.0.0.1 port 0 and reports the port the kernel picked; nothing picks a
// port, closes it and hopes it is still free when something else binds it. StartTorii passes
// the binary --ready-file and reads the addresses it bound from there.
//
// # Caveats
//
// Only tests import this package. Every helper takes a testing.TB, fails the test through it
// and stops what it started in t.Cleanup, so that it is called from the test goroutine only.
// Waits are bounded (a few seconds; the binary's start and stop, 20 s) so that a hung process
// fails its test rather than the whole run.
package testkit
