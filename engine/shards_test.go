package engine

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"testing"
)

// with and without leave the shards they start from as they were (readers
// of the old snapshot keep their view) and share every shard they do not
// touch.
func TestShardsCopyOnWrite(t *testing.T) {
	s := newShards[int](1000)
	for i := range 1000 {
		s.put(fmt.Sprint(i), i)
	}
	w := s.with(map[string]int{"1": -1, "new": 7})
	d := w.without([]string{"2", "absent"})
	if s.get("1") != 1 || s.get("new") != 0 || s.get("2") != 2 {
		t.Fatal("with or without changed the shards it copied")
	}
	if w.get("1") != -1 || w.get("new") != 7 || w.get("2") != 2 {
		t.Fatal("with lost a change")
	}
	if _, ok := d.m[d.shard("2")]["2"]; ok || d.get("new") != 7 || w.get("2") != 2 {
		t.Fatal("without removed the wrong entries, or from the wrong copy")
	}
	shared := 0
	for i := range s.m {
		// Maps do not compare; the same map has the same address.
		if fmt.Sprintf("%p", s.m[i]) == fmt.Sprintf("%p", w.m[i]) {
			shared++
		}
	}
	if shared < nShards-2 {
		t.Errorf("%d of %d shards shared after a change of two keys", shared, nShards)
	}
	k := newKShards[int, string](1, maphash.Comparable[int])
	k.put(3, "x")
	if k.with(map[int]string{4: "y"}).get(3) != "x" {
		t.Error("keys of another type")
	}
}

// grouped's lists share one array, but appending to one never writes into
// another.
func TestGrouped(t *testing.T) {
	pairs := [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"c", "4"}, {"b", "5"}}
	g := grouped(3, func(yield func(string, string)) {
		for _, p := range pairs {
			yield(p[0], p[1])
		}
	})
	want := map[string][]string{"a": {"1", "3"}, "b": {"2", "5"}, "c": {"4"}}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("grouped = %v, want %v", g, want)
	}
	g["a"] = append(g["a"], "x")
	g["b"] = append(g["b"], "y")
	if !reflect.DeepEqual(g["b"], []string{"2", "5", "y"}) || !reflect.DeepEqual(g["c"], []string{"4"}) {
		t.Fatalf("an append reached a neighbour: %v", g)
	}
}
