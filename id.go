package engram

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// UUID is an RFC 9562 UUID. New ones are version 7 (time-ordered), so records
// created together sit together in every index.
type UUID [16]byte

// NewUUID returns a fresh version-7 UUID.
func NewUUID() UUID { return newUUIDAt(time.Now()) }

func newUUIDAt(t time.Time) UUID {
	var u UUID
	if _, err := rand.Read(u[6:]); err != nil {
		panic("engram: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	ms := uint64(t.UnixMilli())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ms)
	copy(u[0:6], b[2:8])
	u[6] = (u[6] & 0x0f) | 0x70 // version 7
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 9562 variant
	return u
}

// ParseUUID parses the canonical 36-character form (any case), with or
// without braces or a "urn:uuid:" prefix.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	switch {
	case len(s) == 36+9 && (s[:9] == "urn:uuid:" || s[:9] == "URN:UUID:"):
		s = s[9:]
	case len(s) == 38 && s[0] == '{' && s[37] == '}':
		s = s[1:37]
	}
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q is not a UUID (want 8-4-4-4-12 hex digits)", truncate(s, 64))
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		if _, err := hex.Decode(u[j:j+1], []byte(s[i:i+2])); err != nil {
			return UUID{}, fmt.Errorf("%q is not a UUID (want 8-4-4-4-12 hex digits)", truncate(s, 64))
		}
		j++
	}
	return u, nil
}

// IsZero reports whether u is the nil UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText parses the canonical form; empty text is the nil UUID, so an
// absent or empty id in JSON input means "assign one".
func (u *UUID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*u = UUID{}
		return nil
	}
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// EpisodeID, PatternID and HeuristicID are UUIDs of different record kinds;
// the types keep one from being passed where another is meant.
type (
	EpisodeID   struct{ UUID }
	PatternID   struct{ UUID }
	HeuristicID struct{ UUID }
)

// NewEpisodeID returns a fresh episode id.
func NewEpisodeID() EpisodeID { return EpisodeID{NewUUID()} }

// NewPatternID returns a fresh pattern id.
func NewPatternID() PatternID { return PatternID{NewUUID()} }

// NewHeuristicID returns a fresh heuristic id.
func NewHeuristicID() HeuristicID { return HeuristicID{NewUUID()} }

// ParseEpisodeID parses s as an episode id; the error is EINVALID naming "episode_id".
func ParseEpisodeID(s string) (EpisodeID, error) {
	u, err := parseID("episode_id", s)
	return EpisodeID{u}, err
}

// ParsePatternID parses s as a pattern id; the error is EINVALID naming "pattern_id".
func ParsePatternID(s string) (PatternID, error) {
	u, err := parseID("pattern_id", s)
	return PatternID{u}, err
}

// ParseHeuristicID parses s as a heuristic id; the error is EINVALID naming "heuristic_id".
func ParseHeuristicID(s string) (HeuristicID, error) {
	u, err := parseID("heuristic_id", s)
	return HeuristicID{u}, err
}

func parseID(field, s string) (UUID, error) {
	u, err := ParseUUID(s)
	if err != nil {
		return u, &Error{Code: EINVALID, Field: field, Message: err.Error()}
	}
	return u, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
