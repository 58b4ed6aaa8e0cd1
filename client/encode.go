package client

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/engramhq/engram"
)

// checkEncodable finds what JSON cannot carry to the server faithfully and
// returns the EINVALID error the server would have returned for it: invalid
// UTF-8 (JSON would silently replace it), NaN and infinities, invalid raw
// JSON and times outside years 0001-9999 (JSON cannot encode them). field
// prefixes the JSON paths named, as in the store's errors.
func checkEncodable(v any, field string) error {
	var c encCheck
	c.walk(reflect.ValueOf(v), field)
	if c.err == nil {
		return nil
	}
	return c.err
}

type encCheck struct{ err *engram.Error }

var (
	rawType  = reflect.TypeFor[json.RawMessage]()
	timeType = reflect.TypeFor[time.Time]()
)

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (c *encCheck) walk(v reflect.Value, path string) {
	if c.err != nil || !v.IsValid() {
		return
	}
	switch {
	case v.Type() == rawType:
		if b := v.Bytes(); len(b) > 0 && !json.Valid(b) {
			c.err = engram.Invalid(path, "is not valid JSON")
		}
		return
	case v.Type() == timeType:
		if y := v.Interface().(time.Time).Year(); y < 1 || y > 9999 {
			c.err = engram.Invalid(path, "year %d is outside 0001-9999", y)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			c.walk(v.Elem(), path)
		}
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			c.err = engram.Invalid(path, "is not valid UTF-8")
		}
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			c.err = engram.Invalid(path, "must be a finite number, not %v", f)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // ids and bytes
		}
		for i := 0; i < v.Len(); i++ {
			c.walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := fmt.Sprint(it.Key().Interface())
			if !utf8.ValidString(k) {
				c.err = engram.Invalid(path+" key", "is not valid UTF-8")
				return
			}
			kk := k
			if len(kk) > 32 {
				kk = kk[:32] + "..."
			}
			c.walk(it.Value(), fmt.Sprintf("%s[%q]", path, kk))
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				c.walk(v.Field(i), path)
				continue
			}
			if name == "" {
				name = f.Name
			}
			c.walk(v.Field(i), join(path, name))
		}
	}
}
