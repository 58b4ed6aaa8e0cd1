package ramcache_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/script"
	"github.com/engramhq/engram/ramcache"
)

// TestScripts runs the scripts in testdata (format: internal/script).
// Commands: open [max-bytes=N] [ttl=D]; put id=NAME [ttl=D|never] [pad=N];
// puts n=N pad=N (N records named p1..pN); get id=NAME (hit or miss);
// advance D; sweep; stats (entries, expirations); bound (whether the
// estimated bytes are within max-bytes).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var c *ramcache.Cache
			var maxBytes int64
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			ctx := context.Background()
			id := func(name string) engram.EpisodeID {
				sum := sha256.Sum256([]byte(name))
				var u engram.UUID
				copy(u[:], sum[:])
				return engram.EpisodeID{UUID: u}
			}
			dur := func(cmd *script.Command, s string) time.Duration {
				if s == "never" {
					return -1
				}
				d, err := time.ParseDuration(s)
				if err != nil {
					t.Fatalf("%s: %v", cmd.Pos, err)
				}
				return d
			}
			num := func(cmd *script.Command, key string) int {
				n, err := strconv.Atoi(cmd.KV[key])
				if cmd.Has(key) && err != nil {
					t.Fatalf("%s: %v", cmd.Pos, err)
				}
				return n
			}
			put := func(cmd *script.Command, name string) {
				ep := &engram.Episode{ID: id(name), TaskType: engram.TaskOther, TaskDescription: strings.Repeat("x", num(cmd, "pad"))}
				w := engram.CacheWrite{Key: engram.EpisodeCacheKey("script", ep.ID), Episode: ep}
				if s, ok := cmd.KV["ttl"]; ok {
					w.TTL = dur(cmd, s)
				}
				if err := c.Apply(ctx, &engram.CacheBatch{Writes: []engram.CacheWrite{w}}); err != nil {
					t.Fatalf("%s: %v", cmd.Pos, err)
				}
			}
			script.Run(t, f, func(t *testing.T, cmd *script.Command) string {
				switch cmd.Name {
				case "open":
					if c != nil {
						c.Close()
					}
					o := ramcache.Options{Clock: clk, MaxBytes: int64(num(cmd, "max-bytes"))}
					maxBytes = o.MaxBytes
					if s, ok := cmd.KV["ttl"]; ok {
						o.TTL = dur(cmd, s)
					}
					var err error
					if c, err = ramcache.New(o); err != nil {
						t.Fatalf("%s: %v", cmd.Pos, err)
					}
				case "put":
					put(cmd, cmd.KV["id"])
				case "puts":
					for i := 1; i <= num(cmd, "n"); i++ {
						put(cmd, fmt.Sprintf("p%d", i))
					}
				case "get":
					_, ok, err := c.GetEpisode(ctx, "script", id(cmd.KV["id"]))
					if err != nil {
						t.Fatalf("%s: %v", cmd.Pos, err)
					}
					if ok {
						return "hit"
					}
					return "miss"
				case "advance":
					clk.Advance(dur(cmd, cmd.Args[0]))
				case "sweep":
					c.Sweep()
				case "stats":
					s, err := c.Stats(ctx)
					if err != nil {
						t.Fatalf("%s: %v", cmd.Pos, err)
					}
					return fmt.Sprintf("entries=%d expirations=%d", s.Entries, s.Expirations)
				case "bound":
					s, _ := c.Stats(ctx)
					return fmt.Sprintf("bytes within max-bytes: %t; entries between 1 and %d: %t", s.Bytes <= maxBytes,
						num(cmd, "fewer-than")-1, s.Entries >= 1 && s.Entries < int64(num(cmd, "fewer-than")))
				default:
					t.Fatalf("%s: unknown command %q", cmd.Pos, cmd.Name)
				}
				return ""
			})
		})
	}
}
