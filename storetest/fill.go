package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"
)

// FillRandom sets every exported field reachable from ptr (a pointer to a
// struct) to a random non-zero value: pointers are allocated, slices get 1-3
// elements, maps 2 entries, times a random UTC instant with nanoseconds.
// Codec and copy tests use it so that a field added to a record type, and
// forgotten by an encoder or a deep copy, fails them.
func FillRandom(ptr any, rng *rand.Rand) {
	fill(reflect.ValueOf(ptr).Elem(), rng)
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func fill(v reflect.Value, rng *rand.Rand) {
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(sampleTime(rng)))
		return
	case v.Type() == rawType:
		v.SetBytes([]byte(fmt.Sprintf(`{"n":%d}`, rng.IntN(1000))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(sampleWords(rng, 1+rng.IntN(3)))
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1 + rng.Int64N(1<<40))
	case reflect.Uint8:
		v.SetUint(uint64(1 + rng.IntN(255)))
	case reflect.Float64, reflect.Float32:
		v.SetFloat(rng.Float64() + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), rng)
		v.Set(p)
	case reflect.Slice:
		n := 1 + rng.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(s.Index(i), rng)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, rng)
			fill(e, rng)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), rng)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), rng)
			}
		}
	default:
		panic(fmt.Sprintf("storetest: FillRandom cannot fill a %s", v.Type()))
	}
}
