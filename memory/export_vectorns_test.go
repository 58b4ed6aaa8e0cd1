package memory

// SetSweepHook calls f after every pass of m's sweep loop with what it swept.
func SetSweepHook(m *Memory, f func(int, error)) { m.afterSweep.Store(&f) }
