package route

import (
	"time"

	"github.com/torii-gateway/torii/httpparse"
)

// maxRetryDelay caps RetryDelay so that a large backoff_factor cannot park a request for
// minutes.
const maxRetryDelay = 10 * time.Second

// MaxAttempts returns how many times the engine may send one request: the first attempt
// plus backend.client.retries.
func (c *Compiled) MaxAttempts() int { return 1 + c.Client.Retries }

// RetryDelay returns the wait before retry number attempt (1 for the first retry):
// retry_initial_delay × backoff_factor^(attempt-1) milliseconds, capped at 10 s.
func (c *Compiled) RetryDelay(attempt int) time.Duration {
	if attempt < 1 {
		return 0
	}
	d := time.Duration(c.Client.RetryInitialDelay) * time.Millisecond
	f := time.Duration(c.Client.BackoffFactor)
	for range attempt - 1 {
		if f <= 1 || d >= maxRetryDelay {
			break
		}
		d *= f
	}
	return min(d, maxRetryDelay)
}

// ShouldRetry reports whether the engine may retry a failed attempt on another target:
// while attempts (made so far) is below MaxAttempts, always after a connect failure, and
// for idempotent methods when no response byte was received yet.
func (c *Compiled) ShouldRetry(attempts int, m httpparse.Method, connectFailed, responseStarted bool) bool {
	if attempts >= c.MaxAttempts() || responseStarted {
		return false
	}
	return connectFailed || IdempotentMethod(m)
}

// IdempotentMethod reports whether m is idempotent (RFC 9110 §9.2.2): GET, HEAD, OPTIONS,
// TRACE, PUT and DELETE. Unknown methods are not.
func IdempotentMethod(m httpparse.Method) bool {
	switch m {
	case httpparse.MethodGet, httpparse.MethodHead, httpparse.MethodOptions,
		httpparse.MethodTrace, httpparse.MethodPut, httpparse.MethodDelete:
		return true
	}
	return false
}
