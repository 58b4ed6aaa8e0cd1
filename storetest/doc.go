// Package storetest holds the conformance suites every implementation of an
// engram storage interface runs, so that all of them keep the same contract:
//
//	func TestBolt(t *testing.T) {
//		storetest.RunBlockstore(t, func(t *testing.T) engram.Blockstore { return mustOpen(t) })
//	}
//
// Each suite opens a fresh, empty store per subtest and asserts content, not
// just the absence of errors.
package storetest
