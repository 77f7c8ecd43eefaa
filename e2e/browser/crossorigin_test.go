package browser

import (
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/memstore"
)

// received is one POST the demo's server received: what the browser sent
// with it and what the server answered.
type received struct {
	path      string
	fetchSite string // the Sec-Fetch-Site header
	origin    string
	cookie    bool // the session cookie came with it
	status    int
}

// inbox records the POSTs a site received.
type inbox struct {
	mu    sync.Mutex
	posts []received
}

// last is the latest POST to path; it fails the test when there is none.
func (in *inbox) last(t *testing.T, path string) received {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := len(in.posts) - 1; i >= 0; i-- {
		if in.posts[i].path == path {
			return in.posts[i]
		}
	}
	t.Fatalf("the demo received no POST %s; it received %+v", path, in.posts)
	return received{}
}

// statusWriter calls answered with the status before the handler's
// answer goes out, so a test that saw the answer finds it recorded.
type statusWriter struct {
	http.ResponseWriter
	answered func(status int)
	done     bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		w.answered(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// protectedSite serves the demo on a fresh memstore at 127.0.0.1 with the
// cross-origin protection on, as `seshat serve` configures it
// (cmd/seshat/serve.go), trusting the origins given; cookie, when not nil,
// changes the session cookie's options. It returns the demo's URL and
// what its server received.
func protectedSite(t *testing.T, cookie func(*seshat.Options), trusted ...string) (string, *inbox) {
	t.Helper()
	o := seshat.Options{Store: memstore.New(), Secrets: [][]byte{[]byte("browser-test-secret-0123456789abcdef")},
		MaxSessionBytes: 4096, ErrorHandler: demo.ErrorHandler(4096), Logger: slog.New(slog.DiscardHandler),
		Carrier:     seshat.Carrier{Header: "Authorization"},
		CrossOrigin: seshat.CrossOrigin{Protect: true, TrustedOrigins: trusted}}
	if cookie != nil {
		cookie(&o)
	}
	m, err := seshat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox{}
	app := demo.Handler(demo.Config{Manager: m, MaxSessionBytes: 4096})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			app.ServeHTTP(w, r)
			return
		}
		// A Secure cookie carries the __Host- prefix.
		_, err := r.Cookie("seshat")
		if err != nil {
			_, err = r.Cookie("__Host-seshat")
		}
		got := received{path: r.URL.Path, fetchSite: r.Header.Get("Sec-Fetch-Site"), origin: r.Header.Get("Origin"), cookie: err == nil}
		app.ServeHTTP(&statusWriter{ResponseWriter: w, answered: func(status int) {
			got.status = status
			in.mu.Lock()
			in.posts = append(in.posts, got)
			in.mu.Unlock()
		}}, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/", in
}

// attackPage is another origin's page: a form that posts to To (with the
// field user when User is set), sent by a click on #go.
var attackPage = template.Must(template.New("attack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>You won</title></head><body>
<form method="post" action="{{.To}}">{{if .User}}<input type="hidden" name="user" value="{{.User}}">{{end}}
<button id="go" type="submit">Claim your prize</button></form>
</body></html>
`))

// attacker serves attackPage on listener l and returns the page's origin
// as the browser is to spell it (origin "": from l's address):
// GET /?to=URL&user=NAME.
func attacker(t *testing.T, l net.Listener, origin string) string {
	t.Helper()
	if origin == "" {
		origin = "http://" + l.Addr().String()
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		attackPage.Execute(w, struct{ To, User string }{r.FormValue("to"), r.FormValue("user")})
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return origin
}

// sameSiteAttacker serves attackPage on 127.0.0.1 and another port than
// the demo's: another origin, but the same site (a site ignores the port).
func sameSiteAttacker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return attacker(t, l, "")
}

// crossSiteAttacker serves attackPage on another site than 127.0.0.1:
// [::1], or, on a machine without IPv6, localhost (on 127.0.0.1, but
// another host name, so another site).
func crossSiteAttacker(t *testing.T) string {
	t.Helper()
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		return attacker(t, l, "")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Log("no IPv6 loopback: the cross-site attacker is on localhost")
	return attacker(t, l, "http://localhost:"+strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
}

// attackURL is the attacker's page that posts to the demo's route (with
// the field user when user is not empty).
func attackURL(origin, site, route, user string) string {
	q := url.Values{"to": {site + route}}
	if user != "" {
		q.Set("user", user)
	}
	return origin + "/?" + q.Encode()
}

// submit opens page, clicks its #go and returns the response to the
// navigation that follows, and the text of the page it shows.
func (b *browser) submit(page string) (*network.Response, string) {
	b.t.Helper()
	b.run("open "+page, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#go")))
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#go")))
	if err != nil {
		b.fail("submit the form of %s: %v", page, err)
	}
	return resp, get(b, "read the answer", chromedp.Evaluate[string](`document.body.innerText`))
}

// whoami is what the demo's /whoami shows this browser: the user, or "not
// logged in".
func (b *browser) whoami(site string) string {
	b.t.Helper()
	b.run("open /whoami", chromedp.Navigate(site+"whoami"))
	return strings.TrimSpace(get(b, "read /whoami", chromedp.Evaluate[string](`document.body.innerText`)))
}

// refused checks that the browser got the demo's 403 for a forged POST
// to path, and that the demo's server received it from fetchSite (with
// the session cookie when cookie is true) and answered 403.
func refused(t *testing.T, b *browser, in *inbox, path, fetchSite string, cookie bool, resp *network.Response, page string) {
	t.Helper()
	if resp == nil || resp.Status != http.StatusForbidden || !strings.Contains(page, "cross-origin request refused") {
		status := int64(0)
		if resp != nil {
			status = resp.Status
		}
		b.fail("the browser got %d %q for the forged POST %s; want 403, cross-origin request refused", status, page, path)
	}
	got := in.last(t, path)
	t.Logf("POST %s from %s: Sec-Fetch-Site %q, session cookie sent: %v, answered %d", path, got.origin, got.fetchSite, got.cookie, got.status)
	if got.fetchSite != fetchSite || got.cookie != cookie || got.status != http.StatusForbidden {
		b.fail("the demo received POST %s with Sec-Fetch-Site %q and the session cookie: %v, and answered %d; want %q, %v, 403",
			path, got.fetchSite, got.cookie, got.status, fetchSite, cookie)
	}
}

// TestCrossSiteRequestForgery shows the demo's protection against
// cross-site request forgery (Options.CrossOrigin, on in `seshat serve`):
// a form or a fetch that a page of another origin sends to the demo is
// refused with 403 and leaves the session as it was, even when the
// browser sends the session cookie with it; the demo's own forms, and
// those of a trusted origin, work.
func TestCrossSiteRequestForgery(t *testing.T) {
	// One Chromium; each scenario has its own browser context, so its
	// own cookies.
	chrome := newBrowser(t, screenshotDir())
	site, in := protectedSite(t, nil)
	sameSite, crossSite := sameSiteAttacker(t), crossSiteAttacker(t)

	t.Run("the demo's own login and logout forms are accepted", func(t *testing.T) {
		b := chrome.profile(t)
		b.login(site, "ann")
		if got := in.last(t, "/login"); got.fetchSite != "same-origin" || got.status != http.StatusSeeOther {
			b.fail("the demo's login form came with Sec-Fetch-Site %q and was answered %d; want same-origin, 303", got.fetchSite, got.status)
		}
		if who := b.whoami(site); who != "ann" {
			b.fail("after logging in as ann, /whoami shows %q", who)
		}
		b.run("log out", chromedp.Navigate(site), chromedp.WaitVisible(chromedp.CSS("#logout")),
			chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))
		if got := in.last(t, "/logout"); got.fetchSite != "same-origin" || !got.cookie || got.status != http.StatusSeeOther {
			b.fail("the demo's logout form came with Sec-Fetch-Site %q and the session cookie: %v, and was answered %d; want same-origin, true, 303",
				got.fetchSite, got.cookie, got.status)
		}
		if who := b.whoami(site); who != "not logged in" {
			b.fail("after logging out, /whoami shows %q", who)
		}
	})

	t.Run("forms from another port of the same host carry the cookie and are refused", func(t *testing.T) {
		b := chrome.profile(t)
		b.login(site, "ann")
		resp, page := b.submit(attackURL(sameSite, site, "login", "mallory"))
		refused(t, b, in, "/login", "same-site", true, resp, page)
		if who := b.whoami(site); who != "ann" {
			b.fail("a forged login as mallory changed the session: /whoami shows %q; want ann", who)
		}
		resp, page = b.submit(attackURL(sameSite, site, "logout", ""))
		refused(t, b, in, "/logout", "same-site", true, resp, page)
		if who := b.whoami(site); who != "ann" {
			b.fail("a forged logout changed the session: /whoami shows %q; want ann", who)
		}
	})

	t.Run("a fetch with credentials from another port carries the cookie and is refused", func(t *testing.T) {
		b := chrome.profile(t)
		b.login(site, "ann")
		var mu sync.Mutex
		statuses := map[string]int64{}
		if err := chromedp.Listen(b.ctx, func(ev any) {
			if ev, ok := ev.(*network.EventResponseReceived); ok {
				mu.Lock()
				statuses[ev.Response.URL] = ev.Response.Status
				mu.Unlock()
			}
		}); err != nil {
			b.fail("listen to the network: %v", err)
		}
		b.run("open the attacker", chromedp.Navigate(sameSite+"/"), chromedp.WaitVisible(chromedp.CSS("#go")))
		// no-cors: a request the browser sends without asking the demo
		// first, and whose answer the page cannot read.
		to, _ := json.Marshal(site + "note")
		js := `fetch(` + string(to) + `, {method: "POST", mode: "no-cors", credentials: "include",
			body: new URLSearchParams({text: "forged"})}).then(r => r.type, e => "error: " + e)`
		if typ := get(b, "fetch", chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise)); typ != "opaque" {
			b.fail("the attacker's fetch ended with %q; want an opaque response", typ)
		}
		var status int64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			status = statuses[site+"note"]
			mu.Unlock()
			if status != 0 {
				break
			}
		}
		got := in.last(t, "/note")
		t.Logf("fetch POST /note from %s: Sec-Fetch-Site %q, session cookie sent: %v, answered %d", got.origin, got.fetchSite, got.cookie, got.status)
		if status != http.StatusForbidden || got.fetchSite != "same-site" || !got.cookie || got.status != http.StatusForbidden {
			b.fail("the browser saw %d for the fetch; the demo received it with Sec-Fetch-Site %q and the session cookie: %v, and answered %d; want 403, same-site, true, 403",
				status, got.fetchSite, got.cookie, got.status)
		}
		b.run("open the demo", chromedp.Navigate(site), chromedp.WaitVisible(chromedp.CSS("#note-input")))
		if note := get(b, "read the note", chromedp.Evaluate[string](`document.getElementById("note-input").value`)); note != "" {
			b.fail("the forged fetch set the note to %q", note)
		}
	})

	t.Run("a form from another site is refused, and SameSite=Lax keeps the cookie off it", func(t *testing.T) {
		b := chrome.profile(t)
		b.login(site, "ann")
		resp, page := b.submit(attackURL(crossSite, site, "logout", ""))
		refused(t, b, in, "/logout", "cross-site", false, resp, page)
		if who := b.whoami(site); who != "ann" {
			b.fail("a forged logout changed the session: /whoami shows %q; want ann", who)
		}
	})

	t.Run("with SameSite=None, a form from another site carries the cookie and is refused", func(t *testing.T) {
		noneSite, noneIn := protectedSite(t, func(o *seshat.Options) {
			// A cookie for cross-site use; Chromium keeps a Secure cookie
			// from http://127.0.0.1, a potentially trustworthy origin.
			o.SameSite, o.Secure = http.SameSiteNoneMode, seshat.SecureAlways
		})
		b := chrome.profile(t)
		b.login(noneSite, "ann")
		resp, page := b.submit(attackURL(crossSite, noneSite, "login", "mallory"))
		refused(t, b, noneIn, "/login", "cross-site", true, resp, page)
		if who := b.whoami(noneSite); who != "ann" {
			b.fail("a forged login as mallory changed the session: /whoami shows %q; want ann", who)
		}
	})

	t.Run("a form from a trusted origin is let through", func(t *testing.T) {
		// The control: the forged logout above does log out, and carries
		// the cookie, when the protection lets it through.
		trustedSite, trustedIn := protectedSite(t, nil, sameSite)
		b := chrome.profile(t)
		b.login(trustedSite, "ann")
		resp, page := b.submit(attackURL(sameSite, trustedSite, "logout", ""))
		if got := trustedIn.last(t, "/logout"); got.fetchSite != "same-site" || !got.cookie || got.status != http.StatusSeeOther {
			b.fail("the trusted origin's logout came with Sec-Fetch-Site %q and the session cookie: %v, and was answered %d (the browser shows %q); want same-site, true, 303",
				got.fetchSite, got.cookie, got.status, page)
		}
		if resp == nil || resp.Status != http.StatusOK {
			b.fail("the browser did not land on the demo's page after the trusted logout: %+v", resp)
		}
		if who := b.whoami(trustedSite); who != "not logged in" {
			b.fail("the trusted origin's logout left /whoami showing %q", who)
		}
	})
}
