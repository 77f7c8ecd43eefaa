package seshat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Encoded values start with a tag byte that names their type, except
// integers, which are stored in canonical decimal so that stores can
// increment them in place (store.Incr). The layout of a record, including
// this encoding, is versioned by store.FormatVersion.
const (
	tagUint   = 'u' // uint64 above math.MaxInt64, decimal
	tagString = 's'
	tagBytes  = 'x'
	tagBool   = 'b' // '0' or '1'
	tagFloat  = 'f' // strconv 'g' format
	tagTime   = 't' // RFC 3339 with nanoseconds
	tagJSON   = 'j'
)

// encode turns a value into its stored form.
func encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return append([]byte{tagString}, x...), nil
	case int:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case bool:
		if x {
			return []byte{tagBool, '1'}, nil
		}
		return []byte{tagBool, '0'}, nil
	case []byte:
		return append([]byte{tagBytes}, x...), nil
	case float64:
		return strconv.AppendFloat([]byte{tagFloat}, x, 'g', -1, 64), nil
	case time.Time:
		return x.AppendFormat([]byte{tagTime}, time.RFC3339Nano), nil
	case nil:
		return nil, fmt.Errorf("nil value")
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(nil, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			return strconv.AppendInt(nil, int64(u), 10), nil
		}
		return strconv.AppendUint([]byte{tagUint}, u, 10), nil
	case reflect.String:
		return append([]byte{tagString}, rv.String()...), nil
	case reflect.Bool:
		return encode(rv.Bool())
	case reflect.Float32:
		return strconv.AppendFloat([]byte{tagFloat}, rv.Float(), 'g', -1, 32), nil
	case reflect.Float64:
		return encode(rv.Float())
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return nil, fmt.Errorf("unsupported kind %s", rv.Kind())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{tagJSON}, b...), nil
}

// isInteger reports whether b holds an integer in canonical decimal form.
func isInteger(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	return b[0] == '-' || (b[0] >= '0' && b[0] <= '9')
}

// decode turns a stored value into a T.
func decode[T any](b []byte) (T, error) {
	var out T
	err := decodeInto(b, &out)
	return out, err
}

func decodeInto(b []byte, dst any) error {
	if len(b) == 0 {
		return errEmpty
	}
	tag, body := b[0], b[1:]
	switch p := dst.(type) {
	case *string:
		if tag != tagString {
			return mismatch(tag)
		}
		*p = string(body)
		return nil
	case *int:
		n, err := parseInt(b, strconv.IntSize)
		*p = int(n)
		return err
	case *int64:
		n, err := parseInt(b, 64)
		*p = n
		return err
	case *bool:
		if tag != tagBool || len(body) != 1 || (body[0] != '0' && body[0] != '1') {
			return mismatch(tag)
		}
		*p = body[0] == '1'
		return nil
	case *[]byte:
		if tag != tagBytes {
			return mismatch(tag)
		}
		*p = append([]byte(nil), body...)
		return nil
	case *float64:
		if tag != tagFloat {
			return mismatch(tag)
		}
		f, err := strconv.ParseFloat(string(body), 64)
		*p = f
		return err
	case *time.Time:
		if tag != tagTime {
			return mismatch(tag)
		}
		t, err := time.Parse(time.RFC3339Nano, string(body))
		*p = t
		return err
	case *any:
		v, err := decodeAny(b)
		*p = v
		return err
	}

	rv := reflect.ValueOf(dst).Elem()
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := parseInt(b, rv.Type().Bits())
		if err == nil {
			rv.SetInt(n)
		}
		return err
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if tag == tagUint {
			b = body
		} else if !isInteger(b) {
			return mismatch(tag)
		}
		u, err := strconv.ParseUint(string(b), 10, rv.Type().Bits())
		if err == nil {
			rv.SetUint(u)
		}
		return err
	case reflect.String:
		if tag != tagString {
			return mismatch(tag)
		}
		rv.SetString(string(body))
		return nil
	case reflect.Bool:
		var v bool
		if err := decodeInto(b, &v); err != nil {
			return err
		}
		rv.SetBool(v)
		return nil
	case reflect.Float32, reflect.Float64:
		if tag != tagFloat {
			return mismatch(tag)
		}
		f, err := strconv.ParseFloat(string(body), rv.Type().Bits())
		if err == nil {
			rv.SetFloat(f)
		}
		return err
	}
	if tag != tagJSON {
		return mismatch(tag)
	}
	return json.Unmarshal(body, dst)
}

func parseInt(b []byte, bits int) (int64, error) {
	if !isInteger(b) {
		return 0, mismatchOf(b)
	}
	return strconv.ParseInt(string(b), 10, bits)
}

// decodeAny decodes a value into its natural Go type.
func decodeAny(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errEmpty
	}
	if isInteger(b) {
		return strconv.ParseInt(string(b), 10, 64)
	}
	switch b[0] {
	case tagUint:
		return strconv.ParseUint(string(b[1:]), 10, 64)
	case tagString:
		return decode[string](b)
	case tagBytes:
		return decode[[]byte](b)
	case tagBool:
		return decode[bool](b)
	case tagFloat:
		return decode[float64](b)
	case tagTime:
		return decode[time.Time](b)
	case tagJSON:
		var v any
		err := json.Unmarshal(b[1:], &v)
		return v, err
	}
	return nil, mismatch(b[0])
}

func mismatch(tag byte) error {
	return fmt.Errorf("stored as %s", tagName(tag))
}

// errEmpty: no encoded value is empty, so an empty one was not written by
// seshat.
var errEmpty = errors.New("empty value")

// mismatchOf is mismatch for a whole stored value, which may be empty.
func mismatchOf(b []byte) error {
	if len(b) == 0 {
		return errEmpty
	}
	return mismatch(b[0])
}

func tagName(tag byte) string {
	switch {
	case tag == '-' || (tag >= '0' && tag <= '9'):
		return "integer"
	case tag == tagUint:
		return "unsigned integer"
	case tag == tagString:
		return "string"
	case tag == tagBytes:
		return "bytes"
	case tag == tagBool:
		return "bool"
	case tag == tagFloat:
		return "float"
	case tag == tagTime:
		return "time"
	case tag == tagJSON:
		return "JSON"
	}
	return fmt.Sprintf("unknown tag %q", tag)
}

// EncodeValue returns the stored form of a value, as Session.Set makes it.
// Stores that translate values to another format (package expresscompat)
// use it with DecodeValue; applications do not need either.
func EncodeValue(v any) ([]byte, error) { return encode(v) }

// DecodeValue turns a stored value back into its natural Go type: int64,
// uint64, string, []byte, bool, float64, time.Time, or what encoding/json
// gives for anything else.
func DecodeValue(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	return decodeAny(b)
}
