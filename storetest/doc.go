// Package storetest holds the conformance suites every implementation of an
// engram storage interface runs, so that all of them keep the same contract:
// RunStore (engram.Store, the durable tier), RunBlockstore and RunOpHeads.
// A suite is the contract in executable form; a backend is done when its
// suite passes.
//
//	func TestBolt(t *testing.T) {
//		storetest.RunBlockstore(t, func(t *testing.T) engram.Blockstore { return mustOpen(t) })
//	}
//
// Each suite opens a fresh, empty store per subtest and asserts content, not
// just the absence of errors.
package storetest
