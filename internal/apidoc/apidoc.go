// Package apidoc holds the OpenAPI 3.1 description of the JSON API. It is written
// once, as openapi.yaml next to this file, checked when the service starts, and served
// as JSON; the contract tests keep it and the routes in step.
package apidoc

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var specYAML []byte

// Doc is the loaded, validated document.
type Doc struct {
	Spec *openapi3.T
	JSON []byte // the document as served at /openapi.json
}

// Load parses and validates the embedded document.
func Load(ctx context.Context) (*Doc, error) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(specYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := spec.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid OpenAPI: %w", err)
	}
	b, err := spec.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return &Doc{Spec: spec, JSON: b}, nil
}
