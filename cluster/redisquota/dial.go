package redisquota

import (
	"net"
	"time"
)

// netDialer bounds a connection attempt, so that a Redis host that drops packets does not
// hold the lease goroutine beyond its call's deadline for long.
func netDialer() net.Dialer {
	return net.Dialer{Timeout: 500 * time.Millisecond, KeepAlive: 15 * time.Second}
}
