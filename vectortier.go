package engram

import "time"

// VectorTier names where a vector index (the indexes of one namespace, item
// type and model) was when a query needed it.
type VectorTier string

const (
	VectorHot  VectorTier = "hot"  // loaded in process memory
	VectorWarm VectorTier = "warm" // snapshot files on local disk, mapped on load
	VectorCold VectorTier = "cold" // content-addressed snapshot objects in the object tier
	// VectorRebuilt: no usable snapshot anywhere; rebuilt from the durable
	// embeddings.
	VectorRebuilt VectorTier = "rebuilt"
)

// RecallVectorInfo says which tier answered a recall's vector search: the
// coldest tier any of its indexes was loaded from, and how long loading
// them took (0 when every index was hot).
type RecallVectorInfo struct {
	Tier     VectorTier    `json:"tier"`
	LoadTime time.Duration `json:"load_ns"`
}

// VectorTierStatus describes one tier of the vector indexes.
type VectorTierStatus struct {
	Tier VectorTier `json:"tier"`
	// State is "ok", "disabled" (cold without an object tier),
	// "unavailable" (the object tier's last call failed; Detail says how)
	// or "degraded" (the last object read was damaged; Detail names it).
	// The next successful call makes it "ok" again.
	State   string `json:"state"`
	Detail  string `json:"detail,omitempty"`
	Indexes int    `json:"indexes"` // index groups in the tier
	Vectors int64  `json:"vectors"` // hot only: vectors loaded
	Bytes   int64  `json:"bytes"`   // hot: estimated memory; warm: files; cold: objects
	// MaxVectors and MaxBytes are the tier's budget (0: unbounded).
	MaxVectors int64 `json:"max_vectors,omitempty"`
	MaxBytes   int64 `json:"max_bytes,omitempty"`
	// Hits counts queries (hot) or loads (warm, cold, rebuilt) the tier
	// answered; Promotions the indexes that came into it from a colder
	// tier; Demotions the indexes that left it for a colder one.
	Hits       uint64 `json:"hits"`
	Promotions uint64 `json:"promotions"`
	Demotions  uint64 `json:"demotions"`
	// LoadTime sums the loads the tier answered; LastLoad is the latest one.
	LoadTime time.Duration `json:"load_ns"`
	LastLoad time.Duration `json:"last_load_ns"`
}

// VectorTiersStatus describes the tiers of the vector indexes.
type VectorTiersStatus struct {
	Tiers []VectorTierStatus `json:"tiers"` // hot, warm, cold, rebuilt
	// Rebuilds counts indexes rebuilt from the durable embeddings.
	Rebuilds uint64 `json:"rebuilds"`
	// Uploads counts snapshots written to the object tier; UploadBytes the
	// bytes of the objects they had to store (objects already there are
	// not sent again); Corrupt the downloaded objects that failed their
	// checksum.
	Uploads         uint64 `json:"uploads"`
	UploadBytes     int64  `json:"upload_bytes"`
	Corrupt         uint64 `json:"corrupt"`
	LastUploadError string `json:"last_upload_error,omitempty"`
	// Groups lists every index group known locally or in the object tier,
	// with its tier.
	Groups []VectorGroupStatus `json:"groups,omitempty"`
}

// VectorGroupStatus is one index group's place in the tiers.
type VectorGroupStatus struct {
	Namespace Namespace  `json:"namespace"`
	ItemType  ItemType   `json:"item_type"`
	Model     string     `json:"model"`
	Tier      VectorTier `json:"tier"`
	Vectors   int64      `json:"vectors,omitempty"` // hot only
	Bytes     int64      `json:"bytes"`
	LastUsed  time.Time  `json:"last_used"`
	// Uploaded is the change-feed position of its object-tier copy (0: none).
	Uploaded uint64 `json:"uploaded_seq,omitempty"`
}
