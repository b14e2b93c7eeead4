// Package apidoc holds the OpenAPI 3.1 description of the JSON API. It is written
// once, as openapi.yaml next to this file, checked when the service starts, and served
// as JSON; the contract tests keep it and the routes in step.
package apidoc

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

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

// SchemeDemo is a security scheme's x-demo extension: a sentence naming the demo
// credentials for it ("" when it has none).
func SchemeDemo(s *openapi3.SecurityScheme) string {
	d, _ := s.Extensions["x-demo"].(string)
	return d
}

// Load parses and validates the embedded document.
func Load(ctx context.Context) (*Doc, error) {
	return load(ctx, specYAML, nil)
}

// load parses and validates a document. order, when set, gives the order of the
// operations (a document made from JSON has no line numbers to keep it by).
func load(ctx context.Context, data []byte, order []Operation) (*Doc, error) {
	loader := openapi3.NewLoader()
	loader.IncludeOrigin = true // line numbers, to keep the YAML's order of operations
	spec, err := loader.LoadFromData(data)
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
	ops := operations(spec)
	if order != nil {
		ops = inOrderOf(ops, order)
	}
	return &Doc{Spec: spec, JSON: b, Operations: ops}, nil
}

// inOrderOf sorts ops as order has the same operations.
func inOrderOf(ops, order []Operation) []Operation {
	rank := make(map[string]int, len(order))
	for i, o := range order {
		rank[o.Method+" "+o.Path] = i
	}
	slices.SortStableFunc(ops, func(a, b Operation) int {
		return cmp.Compare(rank[a.Method+" "+a.Path], rank[b.Method+" "+b.Path])
	})
	return ops
}

// Placeholders for the demo secrets in a document without demo data.
const (
	placeholderPassword = "your-password"
	placeholderKey      = "sk_live_your_key"
)

// WithoutDemo is the document for a service that has no demo data (production
// always): without any x-demo extension, and with every demo password and key that
// the x-demo extensions name replaced by a placeholder wherever else it appears
// (examples, descriptions). Those credentials are public, so a document naming them
// invites trying them, and tells what to try first on a server seeded by mistake.
func (d *Doc) WithoutDemo(ctx context.Context) (*Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(d.JSON))
	dec.UseNumber() // numbers go back out exactly as they came
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	secrets := map[string]string{}
	collectDemoSecrets(tree, secrets)
	// Longest first, so that a secret containing another is replaced whole.
	var pairs []string
	for _, s := range slices.SortedFunc(maps.Keys(secrets), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b))
	}) {
		pairs = append(pairs, s, secrets[s])
	}
	tree = scrubDemo(tree, strings.NewReplacer(pairs...))
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	return load(ctx, bytes.TrimSpace(out.Bytes()), d.Operations)
}

// collectDemoSecrets finds the passwords and keys in every x-demo object of the
// tree, each with its placeholder.
func collectDemoSecrets(node any, secrets map[string]string) {
	switch n := node.(type) {
	case map[string]any:
		if demo, ok := n["x-demo"].(map[string]any); ok {
			if p, _ := demo["password"].(string); p != "" {
				secrets[p] = placeholderPassword
			}
			if k, _ := demo["api_key"].(string); k != "" {
				secrets[k] = placeholderKey
			}
		}
		for _, v := range n {
			collectDemoSecrets(v, secrets)
		}
	case []any:
		for _, v := range n {
			collectDemoSecrets(v, secrets)
		}
	}
}

// scrubDemo drops every x-demo member and replaces the secrets in every string.
func scrubDemo(node any, secrets *strings.Replacer) any {
	switch n := node.(type) {
	case map[string]any:
		delete(n, "x-demo")
		for k, v := range n {
			n[k] = scrubDemo(v, secrets)
		}
	case []any:
		for i, v := range n {
			n[i] = scrubDemo(v, secrets)
		}
	case string:
		return secrets.Replace(n)
	}
	return node
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
