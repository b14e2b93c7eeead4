package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The files pages link to, by their path in public/.
const (
	assetCSS = "css/app.css"
	assetJS  = "js/app.js"
	// assetPasskey is loaded by the login and account pages only (views/layouts/main.html).
	assetPasskey = "js/passkey.js"
	assetHTMX    = "vendor/htmx.org-2.0.11/htmx.min.js"
	assetIcon    = "favicon.svg"
)

// assetURLs are the versioned URLs of the files every page links to.
type assetURLs struct {
	CSS, JS, HTMX, Icon string
	Passkey             string
}

// staticFiles serves public/ under content-hashed URLs (/static/<hash>/<path>): a
// URL never changes meaning, so browsers may cache it for a year without asking.
// In development (reload) the files are read again for every page and file served,
// so an edit gets a new URL at once; a read that fails then (an editor half way
// through a write) falls back to the files as they were at start-up.
type staticFiles struct {
	fsys    fs.FS
	reload  bool
	startup *assetSet
}

// assetSet is the static files as read at one moment, with their URLs.
type assetSet struct {
	files map[string]staticFile
	urls  assetURLs
}

type staticFile struct {
	body        []byte
	hash        string // the first 16 hex digits of the SHA-256 of body
	contentType string
}

// newStaticFiles reads every file of fsys at start-up, and again whenever asked
// when reload is set.
func newStaticFiles(fsys fs.FS, reload bool) (*staticFiles, error) {
	set, err := readAssets(fsys)
	if err != nil {
		return nil, err
	}
	return &staticFiles{fsys: fsys, reload: reload, startup: set}, nil
}

// current is the files to serve and link to now.
func (st *staticFiles) current() *assetSet {
	if !st.reload {
		return st.startup
	}
	set, err := readAssets(st.fsys)
	if err != nil {
		return st.startup
	}
	return set
}

// urls are the versioned URLs pages link to now.
func (st *staticFiles) urls() assetURLs { return st.current().urls }

// readAssets reads and hashes every file of fsys.
func readAssets(fsys fs.FS) (*assetSet, error) {
	st := &assetSet{files: map[string]staticFile{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = fiber.MIMEOctetStream
		}
		st.files[p] = staticFile{body: body, hash: hex.EncodeToString(sum[:8]), contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{assetCSS, &st.urls.CSS}, {assetJS, &st.urls.JS}, {assetHTMX, &st.urls.HTMX}, {assetIcon, &st.urls.Icon}, {assetPasskey, &st.urls.Passkey}} {
		f, ok := st.files[p.name]
		if !ok {
			return nil, fmt.Errorf("static files: %s is missing", p.name)
		}
		*p.dst = "/static/" + f.hash + "/" + p.name
	}
	return st, nil
}

// GET /static/:hash/*: a file, if hash is its current content hash.
func (st *staticFiles) handle(c *fiber.Ctx) error {
	f, ok := st.current().files[c.Params("*")]
	if !ok || c.Params("hash") != f.hash {
		return fiber.ErrNotFound
	}
	etag := `"` + f.hash + `"`
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderETag, etag)
	if strings.Contains(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, f.contentType)
	return c.Send(f.body)
}
