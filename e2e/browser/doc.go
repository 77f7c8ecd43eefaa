// Package browser drives the demo in a real, headless Chromium (Debian's
// chromium package, through chromedp), on memstore and a standalone Redis
// (e2e/demo runs the demo itself on every store): the counter, HttpOnly,
// two tabs, two browser profiles, and a cross-site form post. With the
// cross-origin protection on, as `seshat serve` runs it, forms and a fetch
// from another origin (another port of 127.0.0.1: the same site; [::1]:
// another site) are refused with 403 and leave the session unchanged, even
// when they carry the session cookie (SameSite=None), while the demo's own
// forms and a trusted origin's are accepted. It has no code besides its
// tests.
package browser
