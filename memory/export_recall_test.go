package memory

import "github.com/engramhq/engram"

// SetIndexHNSWMin lowers the size from which rebuilds make HNSW graphs, for
// the test's duration (restore with the function returned).
func SetIndexHNSWMin(n int) (restore func()) {
	old := indexHNSWMin
	indexHNSWMin = n
	return func() { indexHNSWMin = old }
}

// SetVectorTierHook calls f after every pass of m's tiering loop.
func SetVectorTierHook(m *Memory, f func()) { m.vt.afterPass.Store(&f) }

// DemotedGroupsHeld counts the vector groups that are not hot but whose
// loaded indexes the tiering state still references (and so keeps alive).
func DemotedGroupsHeld(m *Memory) int {
	if m.vt == nil {
		return 0
	}
	m.vt.mu.Lock()
	defer m.vt.mu.Unlock()
	n := 0
	for _, e := range m.vt.entries {
		if e.tier != engram.VectorHot && e.uploadedFor != nil {
			n++
		}
	}
	return n
}
