package boltcache

// WithSweepHook makes each background sweep of a cache opened with o send
// the number of records it removed on ch.
func WithSweepHook(o Options, ch chan int) Options {
	o.sweepDone = ch
	return o
}
