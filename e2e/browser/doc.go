// Package browser drives the demo in a real, headless Chromium (Debian's
// chromium package, through chromedp), on every store of the matrix
// (memstore, Redis standalone, Cluster, Sentinel): the counter, HttpOnly,
// two tabs, two browser profiles, and a cross-site form post. It has no
// code besides its tests.
package browser
