package memory

// SetIndexHNSWMin lowers the size from which rebuilds make HNSW graphs, for
// the test's duration (restore with the function returned).
func SetIndexHNSWMin(n int) (restore func()) {
	old := indexHNSWMin
	indexHNSWMin = n
	return func() { indexHNSWMin = old }
}

// SetVectorTierHook calls f after every pass of m's tiering loop.
func SetVectorTierHook(m *Memory, f func()) { m.vt.afterPass.Store(&f) }
