// Package mail sends the mail in the outbox: the templates its bodies are made
// from, an SMTP transport, and the background sender that claims due mail, sends
// it and retries with backoff. It knows nothing of HTTP or of why a mail is sent.
package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
)

// Templates are the bodies of the mail we send, from views/mail: NAME.txt (plain
// text, defining "subject" too) and NAME.html, rendered with text/template and
// html/template, so that whatever a user typed is escaped in the HTML part.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses every mail/*.txt in fsys and its mail/*.html twin. Each
// file is its own template set, so every one can define "subject".
func LoadTemplates(fsys fs.FS) (*Templates, error) {
	names, err := fs.Glob(fsys, "mail/*.txt")
	if err != nil {
		return nil, err
	}
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "mail/"), ".txt")
		tt, err := texttemplate.New(name+".txt").Option("missingkey=error").ParseFS(fsys, path)
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		if tt.Lookup("subject") == nil {
			return nil, fmt.Errorf("mail templates: %s defines no subject", path)
		}
		ht, err := htmltemplate.New(name+".html").Option("missingkey=error").ParseFS(fsys, "mail/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		t.text[name], t.html[name] = tt, ht
	}
	return t, nil
}

// Rendered is one mail's subject and bodies.
type Rendered struct {
	Subject, Text, HTML string
}

// Render fills the named mail with data.
func (t *Templates) Render(name string, data any) (Rendered, error) {
	tt, ok := t.text[name]
	if !ok {
		return Rendered{}, fmt.Errorf("mail templates: no mail %q", name)
	}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Rendered{}, err
	}
	if err := tt.Execute(&text, data); err != nil {
		return Rendered{}, err
	}
	if err := t.html[name].Execute(&html, data); err != nil {
		return Rendered{}, err
	}
	// A subject is one header line: nothing a user typed may add another.
	s := strings.Join(strings.Fields(subject.String()), " ")
	return Rendered{Subject: s, Text: strings.TrimLeft(text.String(), "\n"), HTML: html.String()}, nil
}
