package apidoc_test

import (
	"strings"
	"testing"

	"fiberauth/internal/apidoc"
)

func TestWithoutDemo(t *testing.T) {
	doc, err := apidoc.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	public, err := doc.WithoutDemo(t.Context())
	if err != nil {
		t.Fatalf("WithoutDemo: %v", err)
	}

	t.Run("no x-demo and no demo password or key is left", func(t *testing.T) {
		for _, s := range []string{"x-demo", "secret123", "supersecret", "password123", "securepass", "sk_test_123", "sk_live_456"} {
			if strings.Contains(string(public.JSON), s) {
				t.Errorf("the document without demo data contains %q", s)
			}
		}
	})

	t.Run("every operation is kept, in the document's order, with no demo credentials", func(t *testing.T) {
		if len(public.Operations) != len(doc.Operations) {
			t.Fatalf("%d operations, want %d", len(public.Operations), len(doc.Operations))
		}
		for i, o := range public.Operations {
			if want := doc.Operations[i]; o.Method != want.Method || o.Path != want.Path || o.OperationID != want.OperationID {
				t.Errorf("operation %d: %s %s (%s), want %s %s (%s)", i, o.Method, o.Path, o.OperationID, want.Method, want.Path, want.OperationID)
			}
			if d := o.Demo(); d != (apidoc.Demo{}) {
				t.Errorf("%s still has demo credentials %+v", o.OperationID, d)
			}
		}
	})

	t.Run("the demo document itself is left as it was", func(t *testing.T) {
		if !strings.Contains(string(doc.JSON), "x-demo") {
			t.Error("WithoutDemo changed the document it was called on")
		}
		if op, ok := doc.Operation("basicProfile"); !ok || op.Demo().Password != "secret123" {
			t.Errorf("basicProfile's demo credentials are gone from the original: %+v", op.Demo())
		}
	})
}
