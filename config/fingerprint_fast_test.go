package config

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// fill sets every exported field of v (a pointer to one of the model's
// structs), recursively, to a value that is not the zero one and differs
// with seed, so that a field the fast digest leaves out shows.
func fill(t *testing.T, v reflect.Value, seed int) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[netip.Addr]():
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{192, 0, 2, byte(seed)})))
		return
	case reflect.TypeFor[time.Duration]():
		v.SetInt(int64(seed) * int64(time.Millisecond))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), seed)
	case reflect.Struct:
		if v.Type().PkgPath() != ownPkg {
			t.Fatalf("fill does not know %s", v.Type())
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), seed+i)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), seed+10*i)
		}
	case reflect.String:
		v.SetString("s" + string(rune('a'+seed%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float64:
		v.SetFloat(float64(seed) + 0.25)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(seed + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(seed + 1))
	default:
		t.Fatalf("fill does not know %s", v.Type())
	}
}

// The fast digest of pools, instances and rules is byte for byte the
// reflection walk's, with every field set, with the usual values, and with
// the edge cases of the values the walk writes as text.
func TestFastDigestIsTheWalk(t *testing.T) {
	var parts []any
	for seed := range 3 {
		for _, p := range []any{new(*Pool), new(*Instance), new(*Rule)} {
			v := reflect.ValueOf(p).Elem()
			fill(t, v, seed)
			parts = append(parts, v.Interface())
		}
	}
	c := scaleConfig(2)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	parts = append(parts, c.Pools[0], c.Pools[1], c.Instances[0], c.Instances[0].Rules[0])
	odd := NewPool(Pos{}, "odd")
	for _, s := range []string{"::ffff:192.0.2.1", "fe80::1%eth0", "2001:db8::1"} {
		odd.Addresses = append(odd.Addresses, &Address{IP: netip.MustParseAddr(s)})
	}
	odd.Addresses = append(odd.Addresses, &Address{Domain: "a.example.org."}, nil)
	in := NewInstance(Pos{}, "x.example.org.")
	in.Tie, in.Rules = 0, []*Rule{nil, {Values: []string{}}}
	parts = append(parts, odd, in, &Pool{}, &Instance{}, &Rule{})
	for _, p := range parts {
		d, ok := fastDigest(p)
		if !ok {
			t.Fatalf("no fast digest for %T", p)
		}
		if want := reflectDigest(p, nil); !bytes.Equal(d[:], want) {
			t.Errorf("%T %+v: fast digest %x, the walk's %x", p, p, d, want)
		}
	}
	if _, ok := fastDigest((*Pool)(nil)); ok {
		t.Error("a nil pool has a fast digest")
	}
}
