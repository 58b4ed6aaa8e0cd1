package memory_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// Embedding engram as a library: open the tiers in a data directory, record
// an episode, read it back (from the RAM tier) and find it by keyword (in
// the durable store).
func Example() {
	dir, err := os.MkdirTemp("", "engram-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	m, err := memory.Open(ctx, memory.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ep := &engram.Episode{
		TaskType:        engram.TaskDebugging,
		TaskDescription: "Fix the flaky retry loop in the HTTP client",
		StartTime:       start,
		Steps: []engram.Step{
			{StepNumber: 1, Timestamp: start.Add(time.Second), Tool: "grep", Action: "find the retry call sites"},
		},
	}
	if err := m.CreateEpisode(ctx, "default", ep); err != nil {
		log.Fatal(err)
	}

	var ri engram.ReadInfo
	got, err := m.GetEpisode(engram.WithReadInfo(ctx, &ri), "default", ep.ID)
	if err != nil {
		log.Fatal(err)
	}
	tier, _ := ri.Get()
	fmt.Printf("read %q with %d step from the %s tier\n", got.TaskDescription, len(got.Steps), tier)

	hits, err := m.Search(ctx, "default", engram.SearchQuery{Text: "retry", Kinds: []engram.SearchKind{engram.SearchEpisode}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("search hits:", len(hits), "same episode:", len(hits) == 1 && *hits[0].EpisodeID == ep.ID)
	// Output:
	// read "Fix the flaky retry loop in the HTTP client" with 1 step from the ram tier
	// search hits: 1 same episode: true
}
