package config

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"reflect"
	"sort"
)

// Hash is a stable digest of the configuration's content: the same
// configuration gives the same value on every node and after every restart,
// whatever file and line it was written on (positions and warnings are left
// out). The SOA serial is taken from it.
func (c *Config) Hash() uint64 {
	h := fnv.New64a()
	hashValue(h, reflect.ValueOf(c))
	return h.Sum64()
}

var (
	posType    = reflect.TypeOf(Pos{})
	textMarshT = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

// hashValue writes v into h with a type tag and length before each variable
// part, so that different values cannot run together into the same bytes.
func hashValue(h hash.Hash64, v reflect.Value) {
	var buf [8]byte
	num := func(n uint64) {
		binary.BigEndian.PutUint64(buf[:], n)
		h.Write(buf[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		h.Write([]byte(s))
	}
	if !v.IsValid() {
		num(0)
		return
	}
	if v.Type().Implements(textMarshT) && (v.Kind() != reflect.Pointer || !v.IsNil()) {
		b, _ := v.Interface().(encoding.TextMarshaler).MarshalText()
		str(string(b))
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			num(0)
			return
		}
		num(1)
		hashValue(h, v.Elem())
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			// Where it was written, what Validate derived or marked: not content.
			if !f.IsExported() || f.Type == posType || f.Name == "Warnings" || f.Name == "Used" {
				continue
			}
			str(f.Name)
			hashValue(h, v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		num(uint64(v.Len()))
		for i := 0; i < v.Len(); i++ {
			hashValue(h, v.Index(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Interface()) < fmt.Sprint(keys[j].Interface()) })
		num(uint64(len(keys)))
		for _, k := range keys {
			hashValue(h, k)
			hashValue(h, v.MapIndex(k))
		}
	case reflect.String:
		str(v.String())
	case reflect.Bool:
		if v.Bool() {
			num(1)
		} else {
			num(0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		num(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		num(v.Uint())
	case reflect.Float32, reflect.Float64:
		num(math.Float64bits(v.Float()))
	default:
		str(v.Kind().String())
	}
}
