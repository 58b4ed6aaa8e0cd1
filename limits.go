package engram

// Limits on input. Every one is enforced on every write path (library, CLI,
// HTTP, MCP), and a violation is an error naming the field and the limit.
// docs/limits.md lists them for users; keep the two in step.
const (
	MaxTaskDescriptionBytes = 10 << 10 // task_description
	MaxSteps                = 1000     // steps per episode
	MaxStepPayloadBytes     = 1 << 20  // a step's parameters, result.output, result.message (each)
	MaxEpisodeBytes         = 10 << 20 // an episode with all its steps, JSON-encoded
	MaxTextBytes            = 64 << 10 // any other free-text field (tool, action, verdict, reason, ...)
	MaxNameBytes            = 256      // names: language, framework, domain, model, metadata keys
	MaxListItems            = 1000     // entries of any list field (artifacts, tools, insights, ids, ...)
	MaxTags                 = 100      // tags on one record
	MinTagLen               = 2        // tag length, in characters of [a-z0-9_-]
	MaxTagLen               = 100
	MaxMetadataEntries      = 256  // keys in a metadata map
	MaxVectorDim            = 4096 // embedding dimension; at least 1
	MaxBatch                = 1000 // records in one batch call
	DefaultQueryLimit       = 100  // records per page when a query names no limit
	MaxQueryLimit           = 1000 // the most records one page may hold
	MaxSearchQueryBytes     = 1 << 10
	MaxFilterTags           = 32 // tag= filters in one query
	MaxFilterMetadata       = 32 // metadata key=value filters in one query
)
