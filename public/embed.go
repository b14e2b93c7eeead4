// Package public holds the static files served under /static/, embedded into the binary.
package public

import "embed"

// FS is our stylesheet and script, the favicon, and vendored htmx with its licence.
//
//go:embed css js vendor favicon.svg
var FS embed.FS
