package browser

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/e2e/internal/storematrix"
	"github.com/seshat-go/seshat/store"
)

// chromium returns Debian's Chromium, failing the test with how to install
// it when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: apt-get install -y chromium (the README's test command does this)")
	return ""
}

// browser is one browser profile: its own Chromium process and user-data
// directory, so its cookies are its own.
type browser struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	cancel func()
}

func newBrowser(t *testing.T, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1000, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil { // start the browser
		cancelB()
		cancelA()
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, shots: shots, cancel: func() { cancelB(); cancelA() }}
	t.Cleanup(b.cancel)
	return b
}

// tab opens another tab of the same profile (shared cookies).
func (b *browser) tab() *browser {
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	nb := &browser{t: b.t, ctx: ctx, shots: b.shots, cancel: cancel}
	b.t.Cleanup(cancel)
	return nb
}

// profile opens a tab in a new browser context of the same Chromium, for
// test t: its own cookies, as another profile's, without starting another
// browser.
func (b *browser) profile(t *testing.T) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("new browser context: %v", err)
	}
	nb := &browser{t: t, ctx: ctx, shots: b.shots, cancel: cancel}
	t.Cleanup(cancel)
	return nb
}

// run runs actions with a timeout; on failure it saves a screenshot and
// names it in the failure message.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.screenshot(what))
	}
}

func (b *browser) screenshot(what string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		return fmt.Sprintf(" (no screenshot: %v)", err)
	}
	name := filepath.Join(b.shots, strings.NewReplacer(" ", "_", "/", "_").Replace(b.t.Name()+"-"+what)+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		return fmt.Sprintf(" (no screenshot: %v)", err)
	}
	return "\nscreenshot: " + name
}

// screenshotDir is a new directory for the screenshots of failures.
func screenshotDir() string {
	if d, err := os.MkdirTemp("", "seshat-browser-"); err == nil {
		return d
	}
	return os.TempDir()
}

// fail fails the test with a screenshot.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	what := fmt.Sprintf(format, args...)
	b.t.Fatalf("%s%s", what, b.screenshot("failure"))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// get runs an action that returns a value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.screenshot(what))
	}
	return v
}

// loggedIn reports whether the page shows a logged-in user.
func (b *browser) loggedIn(url string) bool {
	b.t.Helper()
	b.run("open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#views")))
	return get(b, "look for #logout", chromedp.Evaluate[int](`document.querySelectorAll("#logout").length`)) == 1
}

func (b *browser) login(url, user string) {
	b.t.Helper()
	b.run("log in as "+user, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#user-input")),
		chromedp.SendKeys(chromedp.CSS("#user-input"), user), chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#logout")))
}

// logouts records the POST /logout requests a site received and whether
// each carried the session cookie.
type logouts struct {
	mu         sync.Mutex
	withCookie []bool
}

func (l *logouts) seen() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.withCookie...)
}

// site is the demo on one store, served on 127.0.0.1.
func site(t *testing.T, st store.Store) (string, *logouts) {
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("browser-test-secret-0123456789abcdef")},
		MaxSessionBytes: 4096, ErrorHandler: demo.ErrorHandler(4096), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l := &logouts{}
	app := demo.Handler(demo.Config{Manager: m, MaxSessionBytes: 4096})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/logout" {
			_, err := r.Cookie("seshat")
			l.mu.Lock()
			l.withCookie = append(l.withCookie, err == nil)
			l.mu.Unlock()
		}
		app.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/", l
}

func TestInABrowser(t *testing.T) {
	shots := screenshotDir()
	// The subject is the browser, not the store: memstore and one Redis
	// (e2e/demo runs the demo on every store of the matrix).
	for _, st := range storematrix.Named("memstore", "redis-standalone") {
		t.Run(st.Name, func(t *testing.T) {
			url, logouts := site(t, st.New(t))

			t.Run("the counter increments on reload", func(t *testing.T) {
				b := newBrowser(t, shots)
				b.run("open", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#views")))
				for want := 1; want <= 3; want++ {
					if got := b.text("#views"); got != fmt.Sprintf("Number of views: %d", want) {
						b.fail("visit %d shows %q", want, got)
					}
					b.run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#views")))
				}
			})

			t.Run("the session cookie is invisible to scripts", func(t *testing.T) {
				b := newBrowser(t, shots)
				b.login(url, "ann")
				jsCookies := get(b, "read document.cookie", chromedp.Evaluate[string](`document.cookie`))
				jar, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
				if err != nil {
					b.fail("reading the cookie jar: %v", err)
				}
				httpOnly := false
				for _, c := range jar.Cookies {
					if c.Name == "seshat" {
						httpOnly = c.HTTPOnly && c.SameSite == network.CookieSameSiteLax
					}
				}
				if strings.Contains(jsCookies, "seshat") || !httpOnly {
					b.fail("document.cookie = %q, session cookie HttpOnly and Lax in the jar: %v; want invisible to scripts", jsCookies, httpOnly)
				}
			})

			t.Run("logout in one tab logs out the other", func(t *testing.T) {
				b := newBrowser(t, shots)
				b.login(url, "bob")
				other := b.tab()
				if !other.loggedIn(url) {
					other.fail("the second tab is not logged in")
				}
				b.run("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))
				if other.loggedIn(url) {
					other.fail("the second tab is still logged in after logout in the first")
				}
			})

			t.Run("log out other devices ends another profile's session", func(t *testing.T) {
				phone, laptop := newBrowser(t, shots), newBrowser(t, shots)
				phone.login(url, "carol")
				laptop.login(url, "carol")
				laptop.run("log out other devices", chromedp.Navigate(url+"sessions"),
					chromedp.WaitVisible(chromedp.CSS("#logout-others")))
				rows := get(laptop, "count sessions", chromedp.Evaluate[int](`document.querySelectorAll("tr.session").length`))
				if rows != 2 {
					laptop.fail("the sessions page lists %d sessions; want 2", rows)
				}
				laptop.run("click", chromedp.Click(chromedp.CSS("#logout-others")))
				// The click posts and is redirected back to the list.
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
					rows, _ = chromedp.Run(laptop.ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.session").length`))
					if rows == 1 {
						break
					}
				}
				if rows != 1 {
					laptop.fail("after logging out the other device, %d sessions listed; want 1", rows)
				}
				if phone.loggedIn(url) {
					phone.fail("the other profile is still logged in")
				}
				if !laptop.loggedIn(url) {
					laptop.fail("the profile that clicked was logged out")
				}
			})

			t.Run("a note over the size limit is refused and changes nothing", func(t *testing.T) {
				b := newBrowser(t, shots)
				b.run("save a small note", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#limit")),
					chromedp.SendKeys(chromedp.CSS("#note-input"), "groceries"),
					// #views is on the page before the post too: wait for a new
					// document, not for the old one still there while it loads.
					chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.old = "1"; void 0`),
					chromedp.Click(chromedp.CSS("#save-note")),
					chromedp.WaitVisible(chromedp.CSS("html:not([data-old]) #views")))
				if v := get(b, "read the note", chromedp.Evaluate[string](`document.getElementById("note-input").value`)); v != "groceries" {
					b.fail("the note reads %q after saving", v)
				}
				if limit := b.text("#limit"); !strings.Contains(limit, "4096 bytes") {
					b.fail("the page does not show the limit: %q", limit)
				}
				b.run("save a 5000-byte note", chromedp.Evaluate[chromedp.Void](`document.getElementById("note-input").value = "x".repeat(5000); void 0`),
					chromedp.Click(chromedp.CSS("#save-note")), chromedp.WaitVisible(chromedp.CSS("#error")))
				if msg := b.text("#error"); !strings.Contains(msg, "too large") {
					b.fail("error page says %q", msg)
				}
				b.run("back", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#views")))
				if v := get(b, "read the note", chromedp.Evaluate[string](`document.getElementById("note-input").value`)); v != "groceries" {
					b.fail("the refused note changed the session: %q", v)
				}
			})

			t.Run("a cross-site form post does not carry the session cookie", func(t *testing.T) {
				b := newBrowser(t, shots)
				b.login(url, "dave")
				// An attacker's page on another site (localhost is not the
				// same site as 127.0.0.1) posts a logout form to the demo.
				evil := evilSite(t, url)
				b.run("visit the attacker", chromedp.Navigate(evil), chromedp.WaitVisible(chromedp.CSS("#done")))
				seen := logouts.seen()
				if len(seen) == 0 || seen[len(seen)-1] {
					b.fail("POST /logout requests seen, with the session cookie: %v; want the cross-site one without it", seen)
				}
				if !b.loggedIn(url) {
					b.fail("a cross-site POST /logout logged the user out: SameSite=Lax must keep the cookie off it")
				}
			})
		})
	}
}

// evilSite serves, on localhost (another site than 127.0.0.1), a page
// that submits a form to the demo's /logout and then shows #done.
func evilSite(t *testing.T, target string) string {
	t.Helper()
	page := `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="post" action="` + target + `logout" target="sink"></form>
<script>
document.getElementById("sink").addEventListener("load", function () {
  if (document.getElementById("sink").dataset.sent) {
    var d = document.createElement("p"); d.id = "done"; d.textContent = "sent"; document.body.appendChild(d);
  }
});
document.getElementById("sink").dataset.sent = "1";
document.getElementById("f").submit();
</script></body></html>`
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://localhost:" + fmt.Sprint(l.Addr().(*net.TCPAddr).Port) + "/"
}
