// Package views holds the HTML templates, embedded into the binary.
package views

import "embed"

// FS is the templates: layouts/, pages/ and partials/ (htmx fragments), and mail/
// (the plain-text and HTML bodies of the mail we send).
//
//go:embed layouts pages partials mail
var FS embed.FS
