package seshat

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/memstore"
)

func TestCrossOriginProtection(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	var handled []error
	e := newEnv(t, Options{Store: cs, CrossOrigin: CrossOrigin{Protect: true, TrustedOrigins: []string{"https://partner.example"}},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			handled = append(handled, err)
			DefaultErrorHandler(w, r, err)
		}})
	h := tokenApp(e)
	tok := send(h, "GET", "/").Header.Get("Set-Cookie")
	cookie := strings.Split(tok, ";")[0]
	cs.calls.Store(0)

	// httptest requests are for Host example.com.
	refused := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
		{"Origin", "http://example.com.evil.example"},
	}
	for _, hdr := range refused {
		for _, path := range []string{"/", "/logout"} {
			resp := send(h, "POST", path, "Cookie", cookie, hdr[0], hdr[1])
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body(resp), "cross-origin") {
				t.Errorf("POST %s with %s: %s: status %d; want 403", path, hdr[0], hdr[1], resp.StatusCode)
			}
		}
	}
	if n := cs.calls.Load(); n != 0 {
		t.Fatalf("refused cross-origin requests made %d store calls; want 0 (refused before the session is looked at)", n)
	}
	if len(handled) != 2*len(refused) || !errors.Is(handled[0], ErrCrossOrigin) {
		t.Fatalf("the error handler saw %v; want %d errors wrapping ErrCrossOrigin", handled, 2*len(refused))
	}

	accepted := [][]string{
		{"Sec-Fetch-Site", "same-origin"},
		{"Sec-Fetch-Site", "none"}, // typed in the address bar, a bookmark
		{"Origin", "http://example.com"},
		{"Origin", "https://partner.example"}, // trusted
		{"X-Nothing", "a script or an old browser"},
	}
	views := 1
	for _, hdr := range accepted {
		resp := send(h, "POST", "/", "Cookie", cookie, hdr[0], hdr[1])
		views++
		if b := body(resp); resp.StatusCode != 200 || b != strconv.Itoa(views) {
			t.Errorf("POST with %s: %s: status %d, body %q; want 200 and count %d", hdr[0], hdr[1], resp.StatusCode, b, views)
		}
	}
	// Safe methods always pass: they must change nothing that matters.
	if resp := send(h, "GET", "/whoami", "Cookie", cookie, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 200 {
		t.Errorf("GET with Sec-Fetch-Site: cross-site: status %d; want 200", resp.StatusCode)
	}
}

func TestCrossOriginValidation(t *testing.T) {
	ok := [][]byte{testSecret}
	for _, c := range []CrossOrigin{
		{TrustedOrigins: []string{"https://a.example"}},
		{Protect: true, TrustedOrigins: []string{"not an origin"}},
		{Protect: true, TrustedOrigins: []string{"https://a.example/path"}},
	} {
		if _, err := New(Options{Secrets: ok, CrossOrigin: c}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("CrossOrigin %+v: New = %v; want ErrInvalidOptions", c, err)
		}
	}
	if StatusCode(ErrCrossOrigin) != http.StatusForbidden {
		t.Fatalf("StatusCode(ErrCrossOrigin) = %d", StatusCode(ErrCrossOrigin))
	}
}

// CheckCrossOrigin is the middleware's check on its own, for requests
// served outside net/http: the same verdicts, with no session looked at.
func TestCheckCrossOrigin(t *testing.T) {
	post := func(header, value string) *http.Request {
		return &http.Request{Method: "POST", Host: "example.com", Header: http.Header{header: {value}}}
	}
	off, err := New(Options{Secrets: [][]byte{testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	if err := off.CheckCrossOrigin(post("Sec-Fetch-Site", "cross-site")); err != nil {
		t.Fatalf("protection off: CheckCrossOrigin = %v; want nil", err)
	}
	on, err := New(Options{Secrets: [][]byte{testSecret}, CrossOrigin: CrossOrigin{Protect: true, TrustedOrigins: []string{"https://partner.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*http.Request{post("Sec-Fetch-Site", "cross-site"), post("Origin", "https://evil.example")} {
		if err := on.CheckCrossOrigin(r); !errors.Is(err, ErrCrossOrigin) || StatusCode(err) != http.StatusForbidden {
			t.Errorf("POST with %v: CheckCrossOrigin = %v; want an error wrapping ErrCrossOrigin (403)", r.Header, err)
		}
	}
	get := post("Sec-Fetch-Site", "cross-site")
	get.Method = "GET"
	for _, r := range []*http.Request{post("Sec-Fetch-Site", "same-origin"), post("Origin", "http://example.com"), post("Origin", "https://partner.example"), post("X-Nothing", "x"), get} {
		if err := on.CheckCrossOrigin(r); err != nil {
			t.Errorf("%s with %v: CheckCrossOrigin = %v; want nil", r.Method, r.Header, err)
		}
	}
}
