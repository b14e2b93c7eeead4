package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apidoc"
)

// The API reference at /docs is the OpenAPI document rendered by our own
// templates: no Swagger UI, nothing from a CDN, no script. Its view model is built
// once, at start-up, from the loaded document; a request only renders it.

// apiReference is the whole /docs page.
type apiReference struct {
	Title       string
	Version     string
	Summary     string
	Description string
	Schemes     []refScheme
	Error       string // an example of the error envelope
	Groups      []refGroup
}

// refScheme is a security scheme, said in words.
type refScheme struct {
	Name        string
	Words       string
	Description string
}

// refGroup is the operations of one tag, that is one way of authenticating.
type refGroup struct {
	Tag         string
	Title       string
	Description string
	Ops         []refOp
}

type refOp struct {
	ID          string
	Method      string
	Path        string
	Summary     string
	Description string
	Auth        []string // the accepted ways, in words; any one will do
	Public      bool     // needs no authentication
	Demo        string   // the demo credentials to try it with ("" without DEMO_DATA)
	Params      []refField
	Body        *refBody
	Responses   []refResponse
	TryIt       string // the playground, with this operation chosen ("" when it cannot call it)
}

// refField is a parameter, a body field or a response header.
type refField struct {
	Name        string
	In          string
	Type        string
	Required    bool
	Description string
	Example     string
}

type refBody struct {
	ContentType string
	Schema      string // the schema's name, when it has one
	Required    bool
	Fields      []refField
	Example     string
}

type refResponse struct {
	Status      string
	Class       string // ok, denied, limited or failed, as in the playground
	Description string
	Schema      string
	Headers     []refField
	Examples    []refExample
}

type refExample struct {
	Summary string
	Body    string
}

// newAPIReference builds the reference from the document. With demo set, each
// operation names the demo credentials that make it succeed.
func newAPIReference(doc *apidoc.Doc, pg *playground, demo bool) (*apiReference, error) {
	spec := doc.Spec
	ref := &apiReference{Title: spec.Info.Title, Version: spec.Info.Version, Summary: spec.Info.Summary,
		Description: spec.Info.Description}

	schemes := spec.Components.SecuritySchemes
	for _, name := range sortedMapKeys(schemes) {
		description := schemes[name].Value.Description
		if d := apidoc.SchemeDemo(schemes[name].Value); demo && d != "" {
			description = strings.TrimSpace(description + " " + d)
		}
		ref.Schemes = append(ref.Schemes, refScheme{Name: name, Words: schemeWords(schemes[name].Value),
			Description: description})
	}
	if e := spec.Components.Schemas["Error"]; e != nil && len(e.Value.Examples) > 0 {
		ref.Error = indentJSON(e.Value.Examples[0])
	}

	groupOf := map[string]int{}
	for _, t := range spec.Tags {
		groupOf[t.Name] = len(ref.Groups)
		ref.Groups = append(ref.Groups, refGroup{Tag: t.Name, Title: tagDisplayName(t), Description: t.Description})
	}
	for _, o := range doc.Operations {
		if len(o.Tags) == 0 {
			return nil, fmt.Errorf("docs: %s %s has no tag", o.Method, o.Path)
		}
		i, ok := groupOf[o.Tags[0]]
		if !ok {
			return nil, fmt.Errorf("docs: %s %s has tag %q, which the document does not declare", o.Method, o.Path, o.Tags[0])
		}
		op, err := refOperation(spec, o, demo)
		if err != nil {
			return nil, err
		}
		if _, ok := pg.ops[o.OperationID]; ok {
			op.TryIt = "/playground?op=" + o.OperationID
		}
		ref.Groups[i].Ops = append(ref.Groups[i].Ops, op)
	}
	ref.Groups = slices.DeleteFunc(ref.Groups, func(g refGroup) bool { return len(g.Ops) == 0 })
	return ref, nil
}

func refOperation(spec *openapi3.T, o apidoc.Operation, demo bool) (refOp, error) {
	op := refOp{ID: o.OperationID, Method: o.Method, Path: o.Path, Summary: o.Summary, Description: o.Description}

	security := spec.Security
	if o.Security != nil {
		security = *o.Security
	}
	for _, req := range security {
		if len(req) == 0 {
			op.Auth = append(op.Auth, "none (it also works without)")
			continue
		}
		var words []string
		for _, name := range sortedMapKeys(req) {
			s := spec.Components.SecuritySchemes[name]
			if s == nil {
				return op, fmt.Errorf("docs: %s names the unknown security scheme %q", o.OperationID, name)
			}
			words = append(words, schemeWords(s.Value))
		}
		op.Auth = append(op.Auth, strings.Join(words, " and "))
	}
	op.Public = len(security) == 0
	if d := o.Demo(); demo {
		op.Demo = demoWords(d)
	}

	for _, p := range o.Parameters {
		pv := p.Value
		f := refField{Name: pv.Name, In: pv.In, Required: pv.Required, Description: pv.Description}
		if pv.Schema != nil {
			f.Type = schemaType(pv.Schema)
		}
		if pv.Example != nil {
			f.Example = fmt.Sprint(pv.Example)
		}
		op.Params = append(op.Params, f)
	}

	if rb := o.RequestBody; rb != nil {
		for _, ct := range sortedMapKeys(rb.Value.Content) {
			mt := rb.Value.Content[ct]
			body := &refBody{ContentType: ct, Required: rb.Value.Required, Schema: refName(mt.Schema),
				Fields: schemaFields(mt.Schema)}
			if ex := examplesOf(mt); len(ex) > 0 {
				body.Example = ex[0].Body
			}
			op.Body = body
			break // JSON is the one body the document describes
		}
	}

	responses := o.Responses.Map()
	codes := sortedMapKeys(responses)
	for _, code := range codes {
		rv := responses[code].Value
		r := refResponse{Status: code, Class: statusClass(code)}
		if rv.Description != nil {
			r.Description = *rv.Description
		}
		for _, name := range sortedMapKeys(rv.Headers) {
			h := rv.Headers[name].Value
			f := refField{Name: name, Description: h.Description}
			if h.Schema != nil {
				f.Type = schemaType(h.Schema)
			}
			r.Headers = append(r.Headers, f)
		}
		if mt := rv.Content.Get(fiber.MIMEApplicationJSON); mt != nil {
			r.Schema = refName(mt.Schema)
			r.Examples = examplesOf(mt)
		}
		op.Responses = append(op.Responses, r)
	}
	return op, nil
}

// schemeWords says how a client uses a security scheme.
func schemeWords(s *openapi3.SecurityScheme) string {
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "basic"):
		return "HTTP Basic: `Authorization: Basic base64(username:password)`"
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		return "An API key as a bearer token: `Authorization: Bearer <key>`"
	case s.Type == "apiKey" && s.In == "header":
		return "An API key in the `" + s.Name + "` header"
	case s.Type == "apiKey" && s.In == "cookie":
		return "The session cookie `" + s.Name + "`, set by POST /login"
	case s.Type == "oauth2" && s.Flows != nil && s.Flows.Password != nil:
		return "An OAuth 2.0 access token (a JWT from the password grant at `" + s.Flows.Password.TokenURL +
			"`): `Authorization: Bearer <jwt>`"
	}
	return s.Type + " " + s.Scheme
}

// demoWords names the demo credentials for the ways an operation accepts.
func demoWords(d apidoc.Demo) string {
	var parts []string
	if d.Username != "" {
		parts = append(parts, "user `"+d.Username+"`, password `"+d.Password+"`")
	}
	if d.APIKey != "" {
		parts = append(parts, "key `"+d.APIKey+"`")
	}
	return strings.Join(parts, "; or ")
}

// tagDisplayName is a tag's x-displayName, else its name.
func tagDisplayName(t *openapi3.Tag) string {
	if name, ok := t.Extensions["x-displayName"].(string); ok && name != "" {
		return name
	}
	return t.Name
}

// tagTitle is the display name of an operation's first tag.
func tagTitle(doc *apidoc.Doc, o apidoc.Operation) string {
	if len(o.Tags) > 0 {
		if t := doc.Spec.Tags.Get(o.Tags[0]); t != nil {
			return tagDisplayName(t)
		}
		return o.Tags[0]
	}
	return "Other"
}

func statusClass(code string) string {
	switch {
	case strings.HasPrefix(code, "2"), strings.HasPrefix(code, "3"):
		return "ok"
	case code == "429":
		return "limited"
	case strings.HasPrefix(code, "4"):
		return "denied"
	}
	return "failed"
}

// refName is the name of a referenced schema ("" for an inline one).
func refName(s *openapi3.SchemaRef) string {
	if s == nil || s.Ref == "" {
		return ""
	}
	return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
}

// schemaType says a schema's type briefly: "string", "array of string",
// "string or null (date-time)", "Item", "one of user, admin".
func schemaType(s *openapi3.SchemaRef) string {
	if name := refName(s); name != "" {
		return name
	}
	v := s.Value
	if v == nil || v.Type == nil {
		return "any"
	}
	var types []string
	for _, t := range v.Type.Slice() {
		if t == openapi3.TypeArray && v.Items != nil {
			t = "array of " + schemaType(v.Items)
		}
		types = append(types, t)
	}
	out := strings.Join(types, " or ")
	if v.Format != "" {
		out += " (" + v.Format + ")"
	}
	if len(v.Enum) > 0 {
		var vals []string
		for _, e := range v.Enum {
			vals = append(vals, fmt.Sprint(e))
		}
		out += ": one of " + strings.Join(vals, ", ")
	}
	if v.Const != nil {
		out += ": always " + fmt.Sprint(v.Const)
	}
	return out
}

// schemaFields lists an object schema's properties: the required ones in the
// order `required` gives them, then the others by name (a map has no order).
func schemaFields(s *openapi3.SchemaRef) []refField {
	if s == nil || s.Value == nil {
		return nil
	}
	v := s.Value
	names := sortedMapKeys(v.Properties)
	slices.SortStableFunc(names, func(a, b string) int {
		ia, ib := slices.Index(v.Required, a), slices.Index(v.Required, b)
		if ia < 0 {
			ia = len(v.Required)
		}
		if ib < 0 {
			ib = len(v.Required)
		}
		return cmp.Compare(ia, ib)
	})
	var out []refField
	for _, name := range names {
		p := v.Properties[name]
		f := refField{Name: name, Type: schemaType(p), Required: slices.Contains(v.Required, name)}
		if p.Value != nil {
			f.Description = p.Value.Description
			var rules []string
			if p.Value.MinLength > 0 {
				rules = append(rules, fmt.Sprintf("at least %d characters", p.Value.MinLength))
			}
			if p.Value.MaxLength != nil {
				rules = append(rules, fmt.Sprintf("at most %d characters", *p.Value.MaxLength))
			}
			if p.Value.MinItems > 0 {
				rules = append(rules, fmt.Sprintf("at least %d item", p.Value.MinItems))
			}
			if len(rules) > 0 {
				f.Type += "; " + strings.Join(rules, ", ")
			}
			if len(p.Value.Examples) > 0 {
				f.Example = fmt.Sprint(p.Value.Examples[0])
			}
		}
		out = append(out, f)
	}
	return out
}

// examplesOf lists a media type's examples: the single example, or the named
// ones in the document's order.
func examplesOf(mt *openapi3.MediaType) []refExample {
	if mt.Example != nil {
		return []refExample{{Body: indentJSON(mt.Example)}}
	}
	names := sortedMapKeys(mt.Examples)
	line := func(name string) int {
		if e := mt.Examples[name].Value; e != nil && e.Origin != nil && e.Origin.Key != nil {
			return e.Origin.Key.Line
		}
		return 0
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(line(a), line(b)) })
	var out []refExample
	for _, name := range names {
		if e := mt.Examples[name].Value; e != nil {
			out = append(out, refExample{Summary: cmp.Or(e.Summary, name), Body: indentJSON(e.Value)})
		}
	}
	return out
}

func indentJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedMapKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// GET /docs: the API reference.
func (s *server) handleDocs(c *fiber.Ctx) error {
	data := s.viewData(c, "API reference", "docs")
	data.Page = s.apiRef
	return s.render(c, fiber.StatusOK, view{page: pageDocs}, data)
}

// markdown renders the little Markdown the document's descriptions use: `code`
// spans and blank-line paragraphs. Everything else is escaped text.
func markdown(s string) template.HTML {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		b.WriteString("<p>")
		b.WriteString(string(inlineMarkdown(strings.Join(strings.Fields(para), " "))))
		b.WriteString("</p>")
	}
	return template.HTML(b.String())
}

// inlineMarkdown renders `code` spans in one line of text.
func inlineMarkdown(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(part))
		}
	}
	return template.HTML(b.String())
}
