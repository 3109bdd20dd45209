// Package configtest helps tests compare configurations by content.
package configtest

import (
	"reflect"

	"github.com/gtm-project/gtm/config"
)

var (
	posType   = reflect.TypeFor[config.Pos]()
	propsType = reflect.TypeFor[config.Props]()
	ownPkg    = posType.PkgPath()
)

// ClearPositions zeroes, in place, what says where a configuration was
// written and what Validate records about it rather than what it does:
// every Pos and Props, Used and Warnings. Two configurations read from
// different sources are then reflect.DeepEqual when they say the same.
func ClearPositions(c *config.Config) { clear(reflect.ValueOf(c)) }

func clear(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() && v.Type().Elem().PkgPath() == ownPkg {
			clear(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			clear(v.Index(i))
		}
	case reflect.Struct:
		t := v.Type()
		if t.PkgPath() != ownPkg {
			return
		}
		for i := range t.NumField() {
			f, fv := t.Field(i), v.Field(i)
			switch {
			case !f.IsExported():
			case f.Type == posType || f.Type == propsType || f.Name == "Used" || f.Name == "Warnings":
				fv.SetZero()
			default:
				clear(fv)
			}
		}
	}
}
