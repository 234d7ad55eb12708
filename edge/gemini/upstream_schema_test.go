package gemini

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSanitizeSchema(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		ordering bool
		want     string // exact output
		wantCut  bool
		wantErr  error
	}{
		{name: "strips JSON Schema keys",
			in:   `{"$schema":"x","$id":"y","$comment":"c","type":"object","strict":true,"additionalProperties":false,"properties":{"a":{"type":"string","minLength":1,"maxLength":9,"pattern":"^a","readOnly":true,"examples":["a"]}},"patternProperties":{"^x":{}},"unevaluatedProperties":false}`,
			want: `{"type":"object","properties":{"a":{"type":"string","minLength":1,"maxLength":9,"pattern":"^a"}}}`},
		{name: "keeps key order of properties",
			in:   `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"number"}}}`,
			want: `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"number"}}}`},
		{name: "ordering adds propertyOrdering", ordering: true,
			in:   `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"number"}}}`,
			want: `{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"number"}},"propertyOrdering":["zeta","alpha"]}`},
		{name: "explicit propertyOrdering filtered", ordering: true,
			in:   `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"propertyOrdering":["b","zz","a","b"]}`,
			want: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"propertyOrdering":["b","a"]}`},
		{name: "nullable type array",
			in:   `{"type":["null","integer"]}`,
			want: `{"type":"integer","nullable":true}`},
		{name: "several types become anyOf",
			in:   `{"type":["string","integer","null"],"description":"id"}`,
			want: `{"description":"id","nullable":true,"anyOf":[{"type":"string"},{"type":"integer"}]}`},
		{name: "uppercase types lowered, unknown dropped",
			in:   `{"type":"OBJECT","properties":{"a":{"type":"STRING"},"b":{"type":"file","description":"d"}}}`,
			want: `{"type":"object","properties":{"a":{"type":"string"},"b":{"description":"d"}}}`},
		{name: "type null alone kept",
			in:   `{"type":"null"}`,
			want: `{"type":"null"}`},
		{name: "oneOf becomes anyOf",
			in:   `{"oneOf":[{"type":"string"},{"type":"object","properties":{"x":{"type":"number"}}}]}`,
			want: `{"anyOf":[{"type":"string"},{"type":"object","properties":{"x":{"type":"number"}}}]}`},
		{name: "anyOf with null collapses",
			in:   `{"anyOf":[{"type":"string","format":"date-time"},{"type":"null"}],"title":"When","default":null}`,
			want: `{"type":"string","format":"date-time","title":"When","nullable":true}`},
		{name: "allOf merged",
			in:   `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"integer"}},"required":["b"]}],"description":"both"}`,
			want: `{"type":"object","description":"both","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a","b"]}`},
		{name: "pydantic single allOf ref",
			in:   `{"$defs":{"Color":{"enum":["red","blue"],"title":"Color","type":"string"}},"type":"object","properties":{"c":{"allOf":[{"$ref":"#/$defs/Color"}],"description":"pick"}}}`,
			want: `{"type":"object","properties":{"c":{"type":"string","title":"Color","description":"pick","enum":["red","blue"]}}}`},
		{name: "ref siblings win",
			in:   `{"definitions":{"N":{"type":"integer","description":"a number"}},"type":"object","properties":{"n":{"$ref":"#/definitions/N","description":"count"}}}`,
			want: `{"type":"object","properties":{"n":{"type":"integer","description":"count"}}}`},
		{name: "ref chain",
			in:   `{"$defs":{"A":{"$ref":"#/$defs/B"},"B":{"type":"boolean"}},"type":"object","properties":{"x":{"$ref":"#/$defs/A"}}}`,
			want: `{"type":"object","properties":{"x":{"type":"boolean"}}}`},
		{name: "escaped pointer",
			in:   `{"$defs":{"a/b":{"type":"string"}},"type":"object","properties":{"x":{"$ref":"#/$defs/a~1b"}}}`,
			want: `{"type":"object","properties":{"x":{"type":"string"}}}`},
		{name: "recursive ref cut", wantCut: true,
			in:   `{"$defs":{"Node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}},"$ref":"#/$defs/Node"}`,
			want: `{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"type":"object"}}}}`},
		{name: "root recursion cut", wantCut: true,
			in:   `{"type":"object","properties":{"next":{"$ref":"#"}}}`,
			want: `{"type":"object","properties":{"next":{"type":"object","properties":{"next":{"type":"object"}}}}}`},
		{name: "ref cycle of aliases", wantCut: true,
			in:   `{"$defs":{"A":{"$ref":"#/$defs/B"},"B":{"$ref":"#/$defs/A"}},"$ref":"#/$defs/A"}`,
			want: `{"type":"object"}`},
		{name: "unknown ref dropped",
			in:   `{"type":"object","properties":{"x":{"$ref":"https://example.com/s.json","description":"ext"}}}`,
			want: `{"type":"object","properties":{"x":{"description":"ext"}}}`},
		{name: "string const becomes enum",
			in:   `{"type":"object","properties":{"kind":{"const":"circle"},"n":{"const":3}}}`,
			want: `{"type":"object","properties":{"kind":{"type":"string","enum":["circle"]},"n":{}}}`},
		{name: "enum with null and duplicates",
			in:   `{"enum":["a",null,"b","a"]}`,
			want: `{"type":"string","nullable":true,"enum":["a","b"]}`},
		{name: "numeric enum dropped",
			in:   `{"type":"integer","enum":[1,2,3]}`,
			want: `{"type":"integer"}`},
		{name: "formats Gemini refuses dropped",
			in:   `{"type":"object","properties":{"e":{"type":"string","format":"email"},"u":{"type":"string","format":"uuid"},"d":{"type":"string","format":"date-time"},"f":{"type":"number","format":"float"},"i":{"type":"integer","format":"int32"},"x":{"type":"integer","format":"float"}}}`,
			want: `{"type":"object","properties":{"e":{"type":"string"},"u":{"type":"string"},"d":{"type":"string","format":"date-time"},"f":{"type":"number","format":"float"},"i":{"type":"integer","format":"int32"},"x":{"type":"integer"}}}`},
		{name: "properties on non-object dropped",
			in:   `{"type":"string","properties":{"a":{"type":"string"}},"required":["a"],"items":{"type":"string"},"minimum":1}`,
			want: `{"type":"string"}`},
		{name: "type inferred from properties and items",
			in:   `{"properties":{"list":{"items":{"type":"string"},"minItems":1,"maxItems":3.0}}}`,
			want: `{"type":"object","properties":{"list":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3}}}`},
		{name: "required filtered and deduplicated",
			in:   `{"type":"object","properties":{"a":{"type":"string"}},"required":["a","b","a",7]}`,
			want: `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`},
		{name: "empty required dropped",
			in:   `{"type":"object","properties":{"a":{"type":"string"}},"required":[]}`,
			want: `{"type":"object","properties":{"a":{"type":"string"}}}`},
		{name: "tuple items become anyOf",
			in:   `{"type":"array","prefixItems":[{"type":"string"},{"type":"number"}]}`,
			want: `{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"number"}]}}`},
		{name: "boolean schemas",
			in:   `{"type":"object","properties":{"any":true,"never":false,"arr":{"type":"array","items":true}}}`,
			want: `{"type":"object","properties":{"any":{},"arr":{"type":"array","items":{}}}}`},
		{name: "bad bounds dropped",
			in:   `{"type":"string","minLength":-1,"maxLength":2.5,"pattern":7}`,
			want: `{"type":"string"}`},
		{name: "default and example kept",
			in:   `{"type":"object","properties":{"n":{"type":"integer","default":5}},"example":{"n":1}}`,
			want: `{"type":"object","properties":{"n":{"type":"integer","default":5}},"example":{"n":1}}`},
		{name: "untyped bounds dropped",
			in:   `{"description":"anything","minimum":1,"required":["a"]}`,
			want: `{"description":"anything"}`},
		{name: "escapes preserved",
			in:   `{"type":"object","properties":{"q\"\u2028":{"type":"string","description":"line\nbreak"}}}`,
			want: `{"type":"object","properties":{"q\"\u2028":{"type":"string","description":"line\nbreak"}}}`},
		{name: "not JSON", in: `{"type":`, wantErr: errSchemaNotJSON},
		{name: "trailing data", in: `{} {}`, wantErr: errSchemaNotJSON},
		{name: "not an object", in: `"string"`, wantErr: errSchemaNotObj},
		{name: "too deep JSON", in: strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300), wantErr: errSchemaDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, cut, err := sanitizeSchema([]byte(tt.in), tt.ordering)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(appendValue(nil, out)); got != tt.want {
				t.Errorf("sanitizeSchema =\n%s\nwant\n%s", got, tt.want)
			}
			if cut != tt.wantCut {
				t.Errorf("cut = %v, want %v", cut, tt.wantCut)
			}
		})
	}
}

func TestSanitizeSchemaBounds(t *testing.T) {
	t.Run("deep schema cut", func(t *testing.T) {
		in := strings.Repeat(`{"type":"object","properties":{"a":`, 40) + `{"type":"string"}` + strings.Repeat(`}}`, 40)
		out, cut, err := sanitizeSchema([]byte(in), false)
		if err != nil || !cut {
			t.Fatalf("cut = %v, err = %v", cut, err)
		}
		depth := strings.Count(string(appendValue(nil, out)), `"properties"`)
		if depth > maxSchemaDepth {
			t.Errorf("output nests %d levels, want at most %d", depth, maxSchemaDepth)
		}
	})
	t.Run("exponential refs refused", func(t *testing.T) {
		// Each level references the next twice: 2^20 nodes once expanded.
		var defs []string
		for i := range 20 {
			defs = append(defs, fmt.Sprintf(`"D%d":{"type":"object","properties":{"l":{"$ref":"#/$defs/D%d"},"r":{"$ref":"#/$defs/D%d"}}}`, i, i+1, i+1))
		}
		defs = append(defs, `"D20":{"type":"string"}`)
		in := `{"$defs":{` + strings.Join(defs, ",") + `},"$ref":"#/$defs/D0"}`
		if _, _, err := sanitizeSchema([]byte(in), false); !errors.Is(err, errSchemaTooLarge) {
			t.Errorf("error = %v, want %v", err, errSchemaTooLarge)
		}
	})
	t.Run("wide definition referenced often refused", func(t *testing.T) {
		var def, props strings.Builder
		for i := range 3000 {
			fmt.Fprintf(&def, `"k%d":1,`, i)
		}
		for i := range 1000 {
			fmt.Fprintf(&props, `"x%d":{"$ref":"#/$defs/D"},`, i)
		}
		in := `{"$defs":{"D":{` + def.String() + `"type":"string"}},"type":"object","properties":{` + props.String() + `"y":{}}}`
		if _, _, err := sanitizeSchema([]byte(in), false); !errors.Is(err, errSchemaTooLarge) {
			t.Errorf("error = %v, want %v", err, errSchemaTooLarge)
		}
	})
}

func TestIsEmptyObject(t *testing.T) {
	for in, want := range map[string]bool{
		`{}`:                                true,
		`{"type":"object"}`:                 true,
		`{"type":"object","properties":{}}`: true,
		`{"properties":{"a":{}}}`:           false,
		`{"type":"string"}`:                 false,
		`{"anyOf":[{"type":"string"},{"type":"integer"}]}`: false,
	} {
		out, _, err := sanitizeSchema([]byte(in), false)
		if err != nil {
			t.Fatal(err)
		}
		if got := isEmptyObject(out); got != want {
			t.Errorf("isEmptyObject(%s) = %v, want %v", in, got, want)
		}
	}
}
