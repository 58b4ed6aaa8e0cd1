package sqlstore

// SetWriteQueued makes every write of s call f once it joined the
// committer's queue (on the writer's goroutine). Set it before the store is
// shared.
func SetWriteQueued(s *Store, f func()) { s.commits.queued = f }
