package health

import "sync"

// Record is what is known of one address.
type Record struct {
	Status Status
	Last   Result // the most recent probe
}

// Table holds the current status of every probed address. Probers write it;
// the plugin reads it when it compiles a snapshot, never per query.
type Table struct {
	mu sync.RWMutex
	m  map[Key]Record
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{m: make(map[Key]Record)} }

// Set stores the record of k.
func (t *Table) Set(k Key, r Record) {
	t.mu.Lock()
	t.m[k] = r
	t.mu.Unlock()
}

// Get returns the record of k.
func (t *Table) Get(k Key) (Record, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.m[k]
	return r, ok
}

// Status implements View.
func (t *Table) Status(k Key) Status {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[k].Status
}
