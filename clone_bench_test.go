package engram_test

import (
	"math/rand/v2"
	"testing"

	"github.com/engramhq/engram/storetest"
)

func BenchmarkCloneEpisode(b *testing.B) {
	ep := storetest.RandomEpisode(rand.New(rand.NewPCG(1, 1)), 6)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = ep.Clone()
	}
}
