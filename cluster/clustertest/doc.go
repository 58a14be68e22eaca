// Package clustertest runs Torii's cluster mode end to end: the real torii binary as a leader
// and workers on loopback ports, with a real redis-server (tools/deps.sh installs it). The
// short tests run in make test; the long ones (exact quotas under load, 100 propagations,
// outages) run with TORII_CLUSTER_LONG=1 (make test-cluster).
package clustertest
