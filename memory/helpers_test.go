package memory_test

import (
	"github.com/engramhq/engram/boltcache"
)

// boltOptionsNoWait makes Open give up on a held cache file at once.
func boltOptionsNoWait() boltcache.Options { return boltcache.Options{LockTimeout: -1} }
