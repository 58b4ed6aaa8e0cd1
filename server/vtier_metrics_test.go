package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/server"
)

// The vector indexes' tiers reach /metrics, one series per tier and
// meaning; a tenant's /v1/status does not show them.
func TestMetricsVectorTiers(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	fs.set(func(s *faultStore) {
		s.status = &engram.Status{Tiers: []engram.TierStatus{{Tier: engram.TierDurable, State: "ok"}},
			Vectors: &engram.VectorTiersStatus{Rebuilds: 2, Uploads: 3, Corrupt: 1, Tiers: []engram.VectorTierStatus{
				{Tier: engram.VectorHot, State: "ok", Indexes: 4, Vectors: 1000, Bytes: 5000, Hits: 9, Promotions: 2, Demotions: 1},
				{Tier: engram.VectorCold, State: "ok", Indexes: 1, Hits: 2, Promotions: 0, LoadTime: 1500 * time.Millisecond},
			}}}
	})
	url := startServer(t, fs, server.Options{})
	text := string(do(t, "GET", url+"/metrics", nil).body)
	for _, want := range []string{
		`engram_vector_tier_indexes{tier="hot"} 4`,
		`engram_vector_tier_vectors{tier="hot"} 1000`,
		`engram_vector_tier_bytes{tier="hot"} 5000`,
		`engram_vector_tier_hits_total{tier="hot"} 9`,
		`engram_vector_tier_promotions_total{tier="hot"} 2`,
		`engram_vector_tier_demotions_total{tier="hot"} 1`,
		`engram_vector_tier_load_seconds_total{tier="cold"} 1.5`,
		`engram_vector_rebuilds_total 2`,
		`engram_vector_uploads_total 3`,
		`engram_vector_corrupt_objects_total 1`,
		"# TYPE engram_vector_tier_hits_total counter",
		"# TYPE engram_vector_tier_bytes gauge",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "engram_vector"))
		}
	}
}
