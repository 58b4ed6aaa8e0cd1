package sqlstore

import (
	"fmt"
	"strings"
)

// Inserts inside a write transaction are buffered per table and written at
// commit with multi-row INSERT statements: a batch of 1,000 episodes costs a
// few dozen statements instead of tens of thousands. Nothing in a transaction
// reads a row it inserted itself, which is what makes the buffering safe; the
// fixed table order below puts parents before the children whose foreign
// keys point at them.

// tableColumns lists, in flush order, every table written through insert.
var tableColumns = []struct {
	table string
	cols  []string
}{
	{"episodes", []string{"namespace", "episode_id", "task_type", "domain", "language", "start_time", "end_time", "complete",
		"created_at", "updated_at", "step_count", "last_step", "steps_bytes", "fts_rowid", "doc", "digest"}},
	{"patterns", []string{"namespace", "pattern_id", "kind", "domain", "language", "success_rate", "created_at", "updated_at", "fts_rowid", "doc", "digest"}},
	{"steps", []string{"namespace", "episode_id", "step_number", "tool", "at", "latency_ms", "tokens_used", "result_type", "result_message", "fts_rowid"}},
	{"episode_tags", []string{"namespace", "episode_id", "tag"}},
	{"episode_metadata", []string{"namespace", "episode_id", "key", "value"}},
	{"spatiotemporal_index", []string{"namespace", "episode_id", "t", "lat", "lon", "x", "y", "z"}},
	{"pattern_tags", []string{"namespace", "pattern_id", "tag"}},
	{"changes", []string{"namespace", "kind", "key", "op", "at"}},
}

// writeTuning holds the write path's measured choices (BENCHMARKS.md,
// "One document per record"); a benchmark in this package varies them.
var writeTuning = struct {
	// rowsPerInsert bounds one statement of a record table, ftsRowsPerInsert
	// one of a search table (each statement a search table runs flushes its
	// pending index, so fewer, bigger statements write fewer segments).
	// Remainders are written in power-of-two chunks, so a table needs few
	// distinct prepared statements.
	rowsPerInsert, ftsRowsPerInsert int
	// stepRows: write a steps row per step (insights aggregate them).
	stepRows bool
}{rowsPerInsert: 128, ftsRowsPerInsert: 128, stepRows: true}

// rowBuffer holds the pending rows of one table.
type rowBuffer struct {
	table string
	cols  []string
	args  []any // len(cols) values per row
}

func (b *rowBuffer) rows() int { return len(b.args) / len(b.cols) }

// insertSQL is the INSERT of n rows.
func (b *rowBuffer) insertSQL(n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(b.cols)), ", ") + ")"
	return "INSERT INTO " + b.table + " (" + strings.Join(b.cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
}

// insert buffers one row of table; values follow tableColumns' order.
func (t *tx) insert(table string, values ...any) {
	if t.buffers == nil {
		t.buffers = make([]rowBuffer, len(tableColumns))
		for i, tc := range tableColumns {
			t.buffers[i] = rowBuffer{table: tc.table, cols: tc.cols}
		}
	}
	for i := range t.buffers {
		if b := &t.buffers[i]; b.table == table {
			if len(values) != len(b.cols) {
				panic(fmt.Sprintf("sqlstore: insert into %s: %d values for %d columns", table, len(values), len(b.cols)))
			}
			b.args = append(b.args, values...)
			return
		}
	}
	panic("sqlstore: insert into unknown table " + table)
}

// ftsColumns are the columns of every namespace's search table.
var ftsColumns = []string{"rowid", "body", "kind", "ref_id", "step_number"}

// insertSearch buffers one row of a namespace's search table.
func (t *tx) insertSearch(table string, values ...any) {
	if t.search == nil {
		t.search = map[string]*rowBuffer{}
	}
	b := t.search[table]
	if b == nil {
		b = &rowBuffer{table: table, cols: ftsColumns}
		t.search[table] = b
		t.searchOrder = append(t.searchOrder, table)
	}
	b.args = append(b.args, values...)
}

// flush writes every buffered row, parents first, then the search rows.
func (t *tx) flush() error {
	all := make([]*rowBuffer, 0, len(t.buffers)+len(t.searchOrder))
	for i := range t.buffers {
		all = append(all, &t.buffers[i])
	}
	for _, table := range t.searchOrder {
		all = append(all, t.search[table])
	}
	for i, b := range all {
		per := writeTuning.rowsPerInsert
		if i >= len(t.buffers) {
			per = writeTuning.ftsRowsPerInsert
		}
		for b.rows() > 0 {
			n := min(b.rows(), per)
			for n&(n-1) != 0 { // round down to a power of two
				n &= n - 1
			}
			k := n * len(b.cols)
			if _, err := t.exec(b.insertSQL(n), b.args[:k]...); err != nil {
				if t.onDuplicate != nil && b.table == "episodes" && t.s.d.duplicateKey(err) {
					return t.onDuplicate
				}
				return fmt.Errorf("insert into %s: %w", b.table, err)
			}
			b.args = b.args[k:]
		}
		b.args = nil
	}
	return nil
}

// ftsRowid allocates the next rowid of a namespace's search table. The
// transaction holds the write lock, so nobody else allocates meanwhile.
func (t *tx) ftsRowid(table string) (int64, error) {
	if t.nextFTS == nil {
		t.nextFTS = map[string]int64{}
	}
	if t.nextFTS[table] == 0 {
		var max int64
		if err := t.queryRow(`SELECT COALESCE(MAX(rowid), 0) FROM ` + table).Scan(&max); err != nil {
			return 0, err
		}
		t.nextFTS[table] = max + 1
	}
	id := t.nextFTS[table]
	t.nextFTS[table]++
	return id, nil
}
