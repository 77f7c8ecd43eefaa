package fiberseshat_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v3"
	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/fiberseshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store/storetest"
)

// crossOriginApp serves a view counter on GET and POST behind the
// middleware, with a manager built from opts on a counting store; refused
// collects the errors the error handler answers.
type crossOriginApp struct {
	base    string
	store   *storetest.Counting
	mu      sync.Mutex
	refused []error
}

func newCrossOriginApp(t *testing.T, co seshat.CrossOrigin) *crossOriginApp {
	a := &crossOriginApp{store: &storetest.Counting{Store: memstore.New()}}
	m, err := seshat.New(seshat.Options{Store: a.store, Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}, CrossOrigin: co})
	if err != nil {
		t.Fatal(err)
	}
	f := fiber.New()
	f.Use(fiberseshat.Middleware(m, fiberseshat.Config{ErrorHandler: func(c fiber.Ctx, err error) error {
		a.mu.Lock()
		a.refused = append(a.refused, err)
		a.mu.Unlock()
		return fiberseshat.DefaultErrorHandler(c, err)
	}}))
	view := func(c fiber.Ctx) error {
		n, err := fiberseshat.Session(c).Incr("views", 1)
		if err != nil {
			return err
		}
		return c.SendString(strconv.FormatInt(n, 10))
	}
	f.Get("/", view)
	f.Post("/", view)
	a.base = listen(t, f)
	return a
}

// send makes a request with a cookie and headers (name, value pairs) and
// returns the status and the body.
func (a *crossOriginApp) send(t *testing.T, method string, cookie *http.Cookie, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// start creates a session and returns its cookie.
func (a *crossOriginApp) start(t *testing.T) *http.Cookie {
	t.Helper()
	resp, err := client.Get(a.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 1 {
		t.Fatalf("first request: cookies %v; want the session cookie", resp.Cookies())
	}
	return resp.Cookies()[0]
}

// With Options.CrossOrigin on, the native middleware refuses what the
// net/http middleware refuses (403, the error wrapping ErrCrossOrigin),
// before the session or the store is touched, and lets the rest through.
func TestCrossOriginProtection(t *testing.T) {
	a := newCrossOriginApp(t, seshat.CrossOrigin{Protect: true, TrustedOrigins: []string{"https://partner.example"}})
	cookie := a.start(t)
	a.store.Reset()

	refused := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
		{"Origin", "http://" + a.base[len("http://"):] + ".evil.example"},
	}
	for _, h := range refused {
		if code, body := a.send(t, "POST", cookie, h...); code != http.StatusForbidden {
			t.Errorf("POST with %s: %s: status %d, body %q; want 403", h[0], h[1], code, body)
		}
	}
	if n := a.store.Total(); n != 0 {
		t.Fatalf("refused cross-origin requests made %d store calls; want 0 (refused before the session is looked at)", n)
	}
	a.mu.Lock()
	if len(a.refused) != len(refused) {
		t.Errorf("the error handler answered %d requests; want %d", len(a.refused), len(refused))
	}
	for _, err := range a.refused {
		if !errors.Is(err, seshat.ErrCrossOrigin) {
			t.Errorf("the error handler got %v; want an error wrapping seshat.ErrCrossOrigin", err)
		}
	}
	a.mu.Unlock()

	accepted := []struct {
		method string
		header []string
	}{
		{"POST", []string{"Sec-Fetch-Site", "same-origin"}},
		{"POST", []string{"Origin", a.base}}, // an older browser, same origin
		{"POST", []string{"Sec-Fetch-Site", "same-origin", "Origin", a.base}},
		{"POST", []string{"Sec-Fetch-Site", "none"}},                                            // typed in the address bar
		{"POST", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://partner.example"}}, // trusted
		{"POST", []string{"Origin", "https://partner.example"}},
		{"POST", nil}, // a script, or a browser too old to say
		{"GET", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}}, // a link from elsewhere
	}
	for i, c := range accepted {
		code, body := a.send(t, c.method, cookie, c.header...)
		if want := strconv.Itoa(i + 2); code != http.StatusOK || body != want {
			t.Errorf("%s with %q: status %d, body %q; want 200 and views %s (the refused requests changed nothing)", c.method, c.header, code, body, want)
		}
	}
}

// With the protection off (the default), a cross-site POST goes through.
func TestCrossOriginOff(t *testing.T) {
	a := newCrossOriginApp(t, seshat.CrossOrigin{})
	cookie := a.start(t)
	if code, body := a.send(t, "POST", cookie, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); code != http.StatusOK || body != "2" {
		t.Fatalf("cross-site POST with the protection off: status %d, body %q; want 200 and views 2", code, body)
	}
}
