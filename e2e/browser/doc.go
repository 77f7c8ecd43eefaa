// Package browser drives the demo in a real, headless Chromium (Debian's
// chromium package, through chromedp), on memstore and a standalone Redis
// (e2e/demo runs the demo itself on every store): the counter, HttpOnly,
// two tabs, two browser profiles, and a cross-site form post. It has no
// code besides its tests.
package browser
