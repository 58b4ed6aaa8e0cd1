package engram_test

import (
	"math/rand/v2"
	"testing"

	"github.com/engramhq/engram/storetest"
)

// BenchmarkCloneEpisode copies a 6-step episode of about 2 KB
// (storetest.RandomEpisode): with its 7 metadata maps (Maps), and without
// them (NoMaps: maps cannot be carved from a block, so this is the rest).
func BenchmarkCloneEpisode(b *testing.B) {
	ep := storetest.RandomEpisode(rand.New(rand.NewPCG(1, 1)), 6)
	bare := ep.Clone()
	bare.Metadata = nil
	for i := range bare.Steps {
		bare.Steps[i].Metadata = nil
	}
	b.Run("Maps", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = ep.Clone()
		}
	})
	b.Run("NoMaps", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = bare.Clone()
		}
	})
}
