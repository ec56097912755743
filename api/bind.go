package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// decode reads a request body strictly: JSON content type, exactly one JSON object, and in
// every object only the exact (case-sensitive) names of v's fields, each at most once. Go's
// decoder alone would match "AMOUNT" to amount and take the last of two "amount"s, so that a
// proxy or an audit log reading the first could see another request than the one served.
// Every failure is an EINVALID (or ETOOLARGE) that says what was wrong.
func decode(c echo.Context, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
		return stipend.Errorf(stipend.EINVALID, "the request body must be JSON, sent with Content-Type: application/json")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return jsonError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonError(err)
		}
		return stipend.Errorf(stipend.EINVALID, "unexpected data after the JSON object")
	}
	return checkKeys(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v), "")
}

// checkKeys walks one JSON value, already known to be well formed, against the Go type it was
// decoded into, refusing repeated keys and keys that match a field only when case is ignored.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler)) {
		t = nil // a type with its own decoding, such as time.Time, checks itself
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t, map[string]reflect.Type{})
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			key, _ := kt.(string)
			if seen[key] {
				return stipend.Errorf(stipend.EINVALID, "field %q appears twice", path+key)
			}
			seen[key] = true
			var ft reflect.Type
			switch {
			case fields != nil:
				var ok bool
				if ft, ok = fields[key]; !ok {
					return stipend.Errorf(stipend.EINVALID, "unknown field %q (field names are case-sensitive)", path+key)
				}
			case t != nil && t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if err := checkKeys(dec, ft, path+key+"."); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if err := checkKeys(dec, et, path); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	if err != nil {
		return jsonError(err)
	}
	return nil
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// jsonFields maps the JSON names of a struct's fields, embedded ones included, to their types.
func jsonFields(t reflect.Type, out map[string]reflect.Type) map[string]reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			jsonFields(f.Type, out)
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he // the body limit; the error handler reports it as too_large
	case errors.Is(err, io.EOF):
		return stipend.Errorf(stipend.EINVALID, "the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return stipend.Errorf(stipend.EINVALID, "the request body is cut short")
	case errors.As(err, &syntax):
		return stipend.Errorf(stipend.EINVALID, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return stipend.Errorf(stipend.EINVALID, "%s: %s", fieldName(typ.Field), expected(typ))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return stipend.Errorf(stipend.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return stipend.Errorf(stipend.EINVALID, "the request body is not valid JSON")
}

func fieldName(f string) string {
	if f == "" {
		return "body"
	}
	return f
}

// expected describes the value a field needed, in the terms of this API.
func expected(e *json.UnmarshalTypeError) string {
	switch e.Type.Kind() {
	case reflect.Int64, reflect.Int, reflect.Int32:
		if e.Value == "number" || strings.HasPrefix(e.Value, "number ") {
			return "must be a whole number of the asset's minor unit (msat for BTC, cents for USD and EUR) within range; fractions and exponents are not accepted"
		}
		return "must be an integer"
	case reflect.String:
		return "must be a string"
	case reflect.Slice:
		return "must be an array"
	case reflect.Struct, reflect.Map:
		return "must be an object"
	case reflect.Bool:
		return "must be true or false"
	}
	return fmt.Sprintf("must be of type %s", e.Type)
}

// money checks an amount and asset from a request and returns them as an Amount.
// Returns EINVALID naming the field.
func money(amount int64, asset string) (ledger.Amount, error) {
	if asset == "" {
		return ledger.Amount{}, stipend.Errorf(stipend.EINVALID, "asset: required (BTC, USD or EUR)")
	}
	a, err := ledger.ParseAsset(asset)
	if err != nil {
		return ledger.Amount{}, err
	}
	m := ledger.Amount{Value: amount, Asset: a}
	return m, m.CheckPositive("amount")
}

// queryInt reads an optional integer query parameter. Returns EINVALID.
func queryInt(c echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, stipend.Errorf(stipend.EINVALID, "%s: must be an integer", name)
	}
	return n, nil
}
