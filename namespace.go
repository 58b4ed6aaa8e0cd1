package engram

// Namespace scopes every record and every query: an agent, a user or a
// project. Records in different namespaces never see each other.
type Namespace string

// DefaultNamespace is used where no namespace is given.
const DefaultNamespace Namespace = "default"

// MaxNamespaceLen is the longest namespace name, in bytes.
const MaxNamespaceLen = 64

// Validate checks the namespace is 1-64 characters of [a-z0-9_.-].
func (ns Namespace) Validate() error {
	if len(ns) == 0 {
		return Invalid("namespace", "must not be empty")
	}
	if len(ns) > MaxNamespaceLen {
		return Invalid("namespace", "is %d characters; the limit is %d", len(ns), MaxNamespaceLen)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return Invalid("namespace", "%q has character %q at offset %d; allowed are [a-z0-9_.-]", truncate(string(ns), 64), c, i)
		}
	}
	return nil
}

// ParseNamespace returns s as a Namespace, DefaultNamespace when s is empty,
// or an EINVALID error.
func ParseNamespace(s string) (Namespace, error) {
	if s == "" {
		return DefaultNamespace, nil
	}
	ns := Namespace(s)
	return ns, ns.Validate()
}
