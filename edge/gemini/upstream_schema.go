package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// Gemini's function parameters and responseSchema take a Schema: a subset
// of OpenAPI 3.0, not JSON Schema. sanitizeSchema rewrites what clients
// send (JSON Schema drafts 4 to 2020-12, as OpenAI accepts) into that
// subset:
//
//   - kept: type, format, title, description, nullable, enum, properties,
//     required, propertyOrdering, minProperties, maxProperties, items,
//     minItems, maxItems, minLength, maxLength, pattern, minimum, maximum,
//     anyOf, default, example;
//   - rewritten: $ref to "#", "#/$defs/x" or "#/definitions/x" is inlined
//     (sibling keys win; a reference cycle is cut to {"type":"object"});
//     "type": [t, "null"] becomes t with nullable; several types become
//     anyOf; oneOf becomes anyOf; an anyOf branch {"type":"null"} becomes
//     nullable and a single remaining branch is merged into its parent;
//     allOf branches are merged into their parent; a string const becomes
//     a one-value enum; items given as an array (or prefixItems) becomes
//     anyOf of its schemas; a missing type is inferred from properties
//     (object), items (array) or a string enum (string);
//   - dropped: $schema, $id, $defs, definitions, $comment, $anchor,
//     additionalProperties, unevaluatedProperties, patternProperties,
//     propertyNames, dependentRequired, dependentSchemas, dependencies,
//     if/then/else, not, exclusiveMinimum, exclusiveMaximum, multipleOf,
//     uniqueItems, contains, minContains, maxContains, contentEncoding,
//     contentMediaType, readOnly, writeOnly, deprecated, examples, strict
//     and every other key; enums holding anything but strings; formats
//     Gemini refuses (it takes only enum and date-time for strings, float
//     and double for numbers, int32 and int64 for integers); properties,
//     required and items on nodes whose type says they cannot apply
//     (Gemini rejects them); required names that are not properties.
//
// The output is deterministic: schema keys in a fixed order, properties in
// the client's order.

// Bounds on schemas, so a hostile one cannot make the gateway spin.
const (
	// maxSchemaDepth bounds schema nesting; deeper nodes are dropped.
	maxSchemaDepth = 32
	// maxSchemaNodes bounds the schema nodes visited, $ref expansion
	// included; a larger schema is refused.
	maxSchemaNodes = 4096
	// maxSchemaWork bounds the keys copied while inlining $ref targets,
	// so a wide definition referenced many times is refused too.
	maxSchemaWork = 1 << 18
	// maxJSONDepth bounds the nesting of the raw JSON read.
	maxJSONDepth = 256
)

var (
	errSchemaTooLarge = errors.New("schema has too many nodes (after expanding $ref)")
	errSchemaNotJSON  = errors.New("is not valid JSON")
	errSchemaDeep     = errors.New("schema nesting is too deep")
	errSchemaNotObj   = errors.New("schema must be a JSON object")
)

// jsonObject is a decoded JSON object that keeps its key order.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func newObject(n int) *jsonObject {
	return &jsonObject{keys: make([]string, 0, n), vals: make(map[string]any, n)}
}

func (o *jsonObject) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// set stores v under k; a new key goes last.
func (o *jsonObject) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *jsonObject) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	o.keys = slices.DeleteFunc(o.keys, func(s string) bool { return s == k })
}

func (o *jsonObject) len() int { return len(o.keys) }

// decodeJSON reads one JSON value into *jsonObject, []any, string,
// json.Number, bool or nil, keeping object key order. A repeated key
// keeps its first position and its last value.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errSchemaNotJSON
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errSchemaDeep
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, errSchemaNotJSON
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := newObject(4)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, errSchemaNotJSON
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errSchemaNotJSON
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, errSchemaNotJSON
			}
			return o, nil
		case '[':
			var a []any
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, errSchemaNotJSON
			}
			if a == nil {
				a = []any{}
			}
			return a, nil
		}
		return nil, errSchemaNotJSON
	default:
		return tok, nil // string, json.Number, bool or nil
	}
}

// appendValue appends v, as decodeJSON returns values, as JSON.
func appendValue(dst []byte, v any) []byte {
	switch t := v.(type) {
	case *jsonObject:
		dst = append(dst, '{')
		for i, k := range t.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = wire.AppendString(dst, k)
			dst = append(dst, ':')
			dst = appendValue(dst, t.vals[k])
		}
		return append(dst, '}')
	case []any:
		dst = append(dst, '[')
		for i, e := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e)
		}
		return append(dst, ']')
	case string:
		return wire.AppendString(dst, t)
	case json.Number:
		return append(dst, t...)
	case bool:
		return strconv.AppendBool(dst, t)
	}
	return append(dst, "null"...)
}

// schemaKeyOrder is the order keys of a sanitised schema node are written.
var schemaKeyOrder = []string{
	"type", "format", "title", "description", "nullable", "enum",
	"properties", "required", "propertyOrdering", "minProperties", "maxProperties",
	"items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
	"minimum", "maximum", "anyOf", "default", "example",
}

var schemaKeyRank = func() map[string]int {
	m := make(map[string]int, len(schemaKeyOrder))
	for i, k := range schemaKeyOrder {
		m[k] = i
	}
	return m
}()

// schemaTypes are the JSON Schema type names Gemini's Type enum covers.
var schemaTypes = map[string]bool{
	"string": true, "number": true, "integer": true, "boolean": true,
	"array": true, "object": true, "null": true,
}

// allowedFormats are the formats the Gemini API accepts per type.
var allowedFormats = map[string]map[string]bool{
	"string":  {"enum": true, "date-time": true},
	"number":  {"float": true, "double": true},
	"integer": {"int32": true, "int64": true},
}

// sanitizer rewrites one schema. It is used once.
type sanitizer struct {
	root     *jsonObject
	defs     map[string]*jsonObject
	stack    []string // $refs being expanded, for cycle detection
	nodes    int
	work     int // keys copied inlining $ref targets
	err      error
	ordering bool // add propertyOrdering (structured output)
	cut      bool // depth or a reference cycle truncated the schema
}

// sanitizeSchema rewrites the JSON Schema raw into Gemini's Schema subset
// (see the comment at the top of this file). With ordering set, objects
// of several properties get a propertyOrdering in the client's order, which
// structured output needs to keep fields in that order. cut reports that
// the depth bound or a reference cycle truncated the schema.
func sanitizeSchema(raw []byte, ordering bool) (out *jsonObject, cut bool, err error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, false, err
	}
	root, ok := v.(*jsonObject)
	if !ok {
		return nil, false, errSchemaNotObj
	}
	s := &sanitizer{root: root, ordering: ordering, defs: make(map[string]*jsonObject)}
	for _, coll := range []string{"$defs", "definitions"} {
		if d, ok := root.vals[coll].(*jsonObject); ok {
			for _, k := range d.keys {
				if o, ok := d.vals[k].(*jsonObject); ok {
					s.defs["#/"+coll+"/"+escapePointer(k)] = o
				}
			}
		}
	}
	out = s.node(root, 0)
	if s.err != nil {
		return nil, false, s.err
	}
	if out == nil {
		out = newObject(0)
	}
	return out, s.cut, nil
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
}

// resolve follows the $ref chain of in, returning the merged node (keys
// of the referring node win), how many refs it pushed on the stack, and
// whether the chain comes back to a ref being expanded (a cycle).
func (s *sanitizer) resolve(in *jsonObject) (*jsonObject, int, bool) {
	pushed := 0
	for {
		r, ok := in.vals["$ref"]
		if !ok {
			return in, pushed, false
		}
		ref, _ := r.(string)
		target := s.defs[ref]
		if ref == "#" {
			target = s.root
		}
		merged := newObject(in.len() + 4)
		if target != nil {
			if slices.Contains(s.stack, ref) {
				return nil, pushed, true
			}
			s.stack = append(s.stack, ref)
			pushed++
			if s.work += target.len(); s.work > maxSchemaWork {
				s.err = errSchemaTooLarge
				return in, pushed, false
			}
			for _, k := range target.keys {
				if k != "$defs" && k != "definitions" {
					merged.set(k, target.vals[k])
				}
			}
		}
		// An unresolvable ref (external, unknown) is dropped; what the
		// node says besides it stays. A target that is itself a ref keeps
		// the chain going.
		merged.del("$ref")
		for _, k := range in.keys {
			if k != "$ref" {
				merged.set(k, in.vals[k])
			}
		}
		if target != nil {
			if next, ok := target.vals["$ref"]; ok {
				merged.set("$ref", next)
			}
		}
		in = merged
	}
}

// count charges one node against the bound.
func (s *sanitizer) count() bool {
	s.nodes++
	if s.nodes > maxSchemaNodes {
		s.err = errSchemaTooLarge
		return false
	}
	return true
}

// child sanitises a value that should be a schema: an object, or true for
// "anything" (an empty schema). It returns nil for anything else.
func (s *sanitizer) child(v any, depth int) *jsonObject {
	switch t := v.(type) {
	case *jsonObject:
		return s.node(t, depth)
	case bool:
		if t && depth <= maxSchemaDepth && s.count() {
			return newObject(0)
		}
	}
	return nil
}

func (s *sanitizer) node(in *jsonObject, depth int) *jsonObject {
	if s.err != nil {
		return nil
	}
	if depth > maxSchemaDepth {
		s.cut = true
		return nil
	}
	if !s.count() {
		return nil
	}
	in, pushed, cycle := s.resolve(in)
	defer func() { s.stack = s.stack[:len(s.stack)-pushed] }()
	if s.err != nil {
		return nil
	}
	if cycle {
		s.cut = true
		o := newObject(1)
		o.set("type", "object")
		return o
	}

	out := newObject(8)
	nullable := false
	typ := ""
	var multi []string
	if v, ok := in.vals["type"]; ok {
		ts, null := typeList(v)
		nullable = null
		switch {
		case len(ts) == 1:
			typ = ts[0]
		case len(ts) > 1:
			multi = ts
		case null:
			typ = "null"
			nullable = false
		}
	}
	if b, ok := in.vals["nullable"].(bool); ok && b {
		nullable = true
	}
	for _, k := range []string{"title", "description", "pattern"} {
		if v, ok := in.vals[k].(string); ok {
			out.set(k, v)
		}
	}
	if v, ok := in.vals["format"].(string); ok {
		out.set("format", v) // checked against the type at the end
	}
	if v, ok := in.vals["enum"].([]any); ok {
		if vals, null, ok := stringEnum(v); ok {
			nullable = nullable || null
			if len(vals) > 0 {
				out.set("enum", vals)
			}
		}
	} else if v, ok := in.vals["const"]; ok {
		switch c := v.(type) {
		case string:
			out.set("enum", []any{c})
		case nil:
			nullable = true
		}
	}
	if p, ok := in.vals["properties"].(*jsonObject); ok {
		props := newObject(p.len())
		for _, name := range p.keys {
			if c := s.child(p.vals[name], depth+1); c != nil {
				props.set(name, c)
			}
		}
		if props.len() > 0 {
			out.set("properties", props)
		}
	}
	if v, ok := in.vals["required"].([]any); ok {
		out.set("required", v) // filtered against properties at the end
	}
	if v, ok := in.vals["propertyOrdering"].([]any); ok {
		out.set("propertyOrdering", v)
	}
	for _, k := range []string{"minProperties", "maxProperties", "minItems", "maxItems", "minLength", "maxLength"} {
		if n, ok := nonNegInt(in.vals[k]); ok {
			out.set(k, n)
		}
	}
	for _, k := range []string{"minimum", "maximum"} {
		if n, ok := in.vals[k].(json.Number); ok {
			if f, err := n.Float64(); err == nil && !math.IsInf(f, 0) {
				out.set(k, n)
			}
		}
	}
	items, hasItems := in.vals["items"]
	if !hasItems {
		items, hasItems = in.vals["prefixItems"]
	}
	if hasItems {
		if t, ok := items.([]any); ok {
			// Tuple validation: Gemini has none, so any listed schema.
			w := newObject(1)
			w.set("anyOf", t)
			items = w
		}
		if c := s.child(items, depth+1); c != nil {
			out.set("items", c)
		}
	}
	for _, k := range []string{"default", "example"} {
		if v, ok := in.vals[k]; ok && v != nil {
			out.set(k, v)
		}
	}

	// anyOf and oneOf: Gemini knows anyOf only. A null branch is nullable.
	var branches []*jsonObject
	for _, k := range []string{"anyOf", "oneOf"} {
		list, _ := in.vals[k].([]any)
		for _, e := range list {
			c := s.child(e, depth+1)
			if c == nil {
				continue
			}
			if t, _ := c.vals["type"].(string); t == "null" && c.vals["anyOf"] == nil {
				nullable = true
				continue
			}
			branches = append(branches, c)
		}
	}
	if len(branches) == 0 && len(multi) > 0 {
		for _, t := range multi {
			if !s.count() {
				return nil
			}
			b := newObject(1)
			b.set("type", t)
			branches = append(branches, b)
		}
	}
	switch {
	case len(branches) == 1 && typ == "":
		if t, _ := branches[0].vals["type"].(string); t != "" {
			typ = t
		}
		if b, _ := branches[0].vals["nullable"].(bool); b {
			nullable = true
		}
		merge(out, branches[0])
	case len(branches) > 0:
		list := make([]any, len(branches))
		for i, b := range branches {
			list[i] = b
		}
		out.set("anyOf", list)
	}
	if list, ok := in.vals["allOf"].([]any); ok {
		for _, e := range list {
			c := s.child(e, depth+1)
			if c == nil {
				continue
			}
			if t, _ := c.vals["type"].(string); t != "" && typ == "" {
				typ = t
			}
			if b, _ := c.vals["nullable"].(bool); b {
				nullable = true
			}
			merge(out, c)
		}
	}

	finish(out, typ, nullable, s.ordering)
	return out
}

// finish applies the rules that depend on the node's final type and puts
// its keys in schemaKeyOrder.
func finish(out *jsonObject, typ string, nullable, ordering bool) {
	out.del("type")
	out.del("nullable")
	if typ == "" {
		switch {
		case out.vals["properties"] != nil:
			typ = "object"
		case out.vals["items"] != nil:
			typ = "array"
		case out.vals["enum"] != nil:
			typ = "string"
		}
	}
	if typ != "" {
		out.set("type", typ)
		if typ != "object" {
			for _, k := range []string{"properties", "required", "propertyOrdering", "minProperties", "maxProperties"} {
				out.del(k)
			}
		}
		if typ != "array" {
			for _, k := range []string{"items", "minItems", "maxItems"} {
				out.del(k)
			}
		}
		if typ != "string" {
			for _, k := range []string{"enum", "minLength", "maxLength", "pattern"} {
				out.del(k)
			}
		}
		if typ != "number" && typ != "integer" {
			out.del("minimum")
			out.del("maximum")
		}
	} else {
		// Untyped: keep only what cannot be wrong for any type.
		for _, k := range []string{"required", "propertyOrdering", "minProperties", "maxProperties", "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum"} {
			out.del(k)
		}
	}
	if f, ok := out.vals["format"].(string); ok && !allowedFormats[typ][f] {
		out.del("format")
	}
	if nullable {
		out.set("nullable", true)
	}
	props, _ := out.vals["properties"].(*jsonObject)
	for _, k := range []string{"required", "propertyOrdering"} {
		list, ok := out.vals[k].([]any)
		if !ok {
			continue
		}
		var names []any
		seen := make(map[string]bool, len(list))
		for _, e := range list {
			name, ok := e.(string)
			if ok && props != nil && props.vals[name] != nil && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			out.del(k)
		} else {
			out.set(k, names)
		}
	}
	if ordering && props != nil && props.len() > 1 && out.vals["propertyOrdering"] == nil {
		names := make([]any, props.len())
		for i, k := range props.keys {
			names[i] = k
		}
		out.set("propertyOrdering", names)
	}
	sortSchemaKeys(out)
}

// sortSchemaKeys puts the keys of a schema node in schemaKeyOrder.
func sortSchemaKeys(o *jsonObject) {
	slices.SortStableFunc(o.keys, func(a, b string) int { return schemaKeyRank[a] - schemaKeyRank[b] })
}

// merge folds src into dst: properties and required are united, other
// keys are taken only where dst has none.
func merge(dst, src *jsonObject) {
	for _, k := range src.keys {
		v := src.vals[k]
		switch k {
		case "properties":
			sp := v.(*jsonObject)
			dp, ok := dst.vals[k].(*jsonObject)
			if !ok {
				dp = newObject(sp.len())
				dst.set(k, dp)
			}
			for _, name := range sp.keys {
				if _, has := dp.vals[name]; !has {
					dp.set(name, sp.vals[name])
				}
			}
		case "required":
			dl, _ := dst.vals[k].([]any)
			dst.set(k, append(slices.Clip(dl), v.([]any)...))
		case "type", "nullable":
			// decided by the caller
		default:
			if _, has := dst.vals[k]; !has {
				dst.set(k, v)
			}
		}
	}
}

// typeList reads "type": a name or a list of names. It returns the known
// non-null names (lowercased, deduplicated) and whether "null" was one.
func typeList(v any) (types []string, null bool) {
	add := func(e any) {
		s, ok := e.(string)
		if !ok {
			return
		}
		s = strings.ToLower(s)
		switch {
		case s == "null":
			null = true
		case schemaTypes[s] && !slices.Contains(types, s):
			types = append(types, s)
		}
	}
	if list, ok := v.([]any); ok {
		for _, e := range list {
			add(e)
		}
	} else {
		add(v)
	}
	return types, null
}

// stringEnum reads an enum that Gemini can take: strings, with null
// meaning nullable. ok is false when a value is neither.
func stringEnum(list []any) (vals []any, null, ok bool) {
	seen := make(map[string]bool, len(list))
	for _, e := range list {
		switch t := e.(type) {
		case string:
			if !seen[t] {
				seen[t] = true
				vals = append(vals, t)
			}
		case nil:
			null = true
		default:
			return nil, false, false
		}
	}
	return vals, null, true
}

// nonNegInt reads a non-negative integer bound (minItems, maxLength,
// ...), accepting integral floats ("3.0").
func nonNegInt(v any) (json.Number, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return "", false
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return n, i >= 0
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<53 || f != math.Trunc(f) {
		return "", false
	}
	return json.Number(strconv.FormatInt(int64(f), 10)), true
}

// isEmptyObject reports whether a sanitised schema describes an object
// without properties, which Gemini refuses as function parameters
// ("properties: should be non-empty for OBJECT type"); such a function
// is declared without parameters.
func isEmptyObject(o *jsonObject) bool {
	t, _ := o.vals["type"].(string)
	return (t == "object" || t == "") && o.vals["properties"] == nil && o.vals["anyOf"] == nil
}
