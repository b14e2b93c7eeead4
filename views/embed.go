// Package views holds the HTML templates, embedded into the binary.
package views

import "embed"

// FS is the templates: layouts/, pages/ and partials/ (htmx fragments).
//
//go:embed layouts pages partials
var FS embed.FS
