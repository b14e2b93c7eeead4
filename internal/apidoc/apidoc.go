// Package apidoc holds the OpenAPI 3.1 description of the JSON API. It is written
// once, as openapi.yaml next to this file, checked when the service starts, and served
// as JSON; the contract tests keep it and the routes in step.
package apidoc

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var specYAML []byte

// Doc is the loaded, validated document.
type Doc struct {
	Spec *openapi3.T
	JSON []byte // the document as served at /openapi.json
	// Operations lists every operation in the order the YAML gives them, which is
	// the order a reader should meet them in (the spec's path map has none).
	Operations []Operation
}

// Operation is one operation of the document with its method and path.
type Operation struct {
	Method string // GET, POST, ...
	Path   string // as the document spells it: /keys/{id}
	*openapi3.Operation
}

// Demo is an operation's x-demo extension: the demo credentials (seeded with
// DEMO_DATA) that make it succeed. The playground prefills them, the docs show
// them and the contract test sends them.
type Demo struct {
	Username string
	Password string
	APIKey   string
}

// Demo returns the operation's x-demo credentials (zero when it has none).
func (o Operation) Demo() Demo {
	m, _ := o.Extensions["x-demo"].(map[string]any)
	str := func(k string) string { s, _ := m[k].(string); return s }
	return Demo{Username: str("username"), Password: str("password"), APIKey: str("api_key")}
}

// Load parses and validates the embedded document.
func Load(ctx context.Context) (*Doc, error) {
	loader := openapi3.NewLoader()
	loader.IncludeOrigin = true // line numbers, to keep the YAML's order of operations
	spec, err := loader.LoadFromData(specYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	// Validate picks JSON Schema 2020-12 from `openapi: 3.1.0`, and checks every
	// example against its schema.
	if err := spec.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid OpenAPI: %w", err)
	}
	if !spec.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi.yaml: want OpenAPI 3.1, got %q", spec.OpenAPI)
	}
	b, err := spec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return &Doc{Spec: spec, JSON: b, Operations: operations(spec)}, nil
}

// operations lists the document's operations in source order.
func operations(spec *openapi3.T) []Operation {
	var ops []Operation
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, Operation{Method: method, Path: path, Operation: op})
		}
	}
	line := func(o Operation) int {
		if o.Origin != nil && o.Origin.Key != nil {
			return o.Origin.Key.Line
		}
		return 0
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		return cmp.Or(cmp.Compare(line(a), line(b)), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	return ops
}

// Operation returns the operation with the given operationId.
func (d *Doc) Operation(id string) (Operation, bool) {
	for _, o := range d.Operations {
		if o.OperationID == id {
			return o, true
		}
	}
	return Operation{}, false
}
