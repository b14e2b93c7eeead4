// Package htmx names the HX-* headers htmx sends and understands, and holds the few
// helpers the web layer needs to read and answer them. Nothing else spells them out.
package htmx

import "github.com/gofiber/fiber/v2"

// Request headers htmx sends.
const (
	HeaderRequest        = "HX-Request"                 // "true" on every htmx request
	HeaderBoosted        = "HX-Boosted"                 // "true" when hx-boost made the request
	HeaderHistoryRestore = "HX-History-Restore-Request" // "true" when htmx asks for a whole page after a history miss
	HeaderCurrentURL     = "HX-Current-URL"             // the browser's URL when it made the request
)

// Response headers htmx acts on.
const (
	HeaderRedirect = "HX-Redirect" // navigate the whole page to this URL
	HeaderRetarget = "HX-Retarget" // swap into this CSS selector instead of hx-target
	HeaderReswap   = "HX-Reswap"   // swap this way instead of hx-swap
)

// IsRequest reports whether htmx made the request.
func IsRequest(c *fiber.Ctx) bool { return c.Get(HeaderRequest) == "true" }

// WantsFragment reports whether the answer should be a fragment rather than a whole
// page: an htmx request that is neither boosted nor restoring history.
func WantsFragment(c *fiber.Ctx) bool {
	return IsRequest(c) && c.Get(HeaderBoosted) != "true" && c.Get(HeaderHistoryRestore) != "true"
}

// Redirect tells htmx to load url as a whole new page.
func Redirect(c *fiber.Ctx, url string) {
	c.Set(HeaderRedirect, url)
}

// Retarget makes htmx swap the response into selector, the given way.
func Retarget(c *fiber.Ctx, selector, swap string) {
	c.Set(HeaderRetarget, selector)
	c.Set(HeaderReswap, swap)
}

// Vary marks a response as depending on whether htmx asked for it.
func Vary(c *fiber.Ctx) { c.Vary(HeaderRequest) }
