package server

import (
	"net/url"

	"github.com/engramhq/engram"
)

// ParseEpisodeFilterForTest exposes the episode-list parser to the external tests.
func ParseEpisodeFilterForTest(raw string) (engram.EpisodeFilter, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return engram.EpisodeFilter{}, err
	}
	return parseEpisodeFilter(q)
}
