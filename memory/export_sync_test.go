package memory

import "github.com/engramhq/engram"

// SetAfterSync makes every background sync of a Memory opened with c call
// f with why it ran ("periodic" or "notified") and its outcome.
func SetAfterSync(c *Config, f func(why string, rep *engram.SyncReport, err error)) {
	c.afterSync = f
}
