package boltcache

// WithSweepHook makes each background sweep of a cache opened with o send
// the number of records it removed on ch.
func WithSweepHook(o Options, ch chan int) Options {
	o.sweepDone = ch
	return o
}

// WithLockWaitHook makes Open with o call fn once when it finds the file
// locked by another handle and starts to wait.
func WithLockWaitHook(o Options, fn func()) Options {
	o.lockWaiting = fn
	return o
}
