package demo_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/memstore"
)

// startWith serves the demo on memstore with the given options and
// configuration, and returns a function that makes a new browser of it.
func startWith(t *testing.T, o seshat.Options, cfg demo.Config) (*httptest.Server, func() *testhttp.Client) {
	t.Helper()
	o.Store = memstore.New()
	o.Secrets = [][]byte{[]byte("demo-test-secret-0123456789abcdef")}
	m, err := seshat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Manager = m
	srv := httptest.NewServer(demo.Handler(cfg))
	t.Cleanup(srv.Close)
	return srv, func() *testhttp.Client { return testhttp.NewBrowser(t, srv.URL) }
}

// note is the note of c's session as the HTML page shows it.
func note(t *testing.T, c *testhttp.Client) string {
	t.Helper()
	req := c.Request("GET", "/", nil)
	req.Header.Set("Accept", "text/html")
	page := c.Send(req, "").Body
	_, rest, ok := strings.Cut(page, `name="text" value="`)
	if !ok {
		t.Fatalf("no note field in the page:\n%s", page)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// sendHuge sends a request announcing size bytes of body (prefix, then
// 'x's) over a raw connection, writing while it waits for the answer, and
// returns the status and how many body bytes got out before the server
// stopped reading (socket buffers included).
func sendHuge(t *testing.T, srv *httptest.Server, method, path, cookie, contentType, prefix string, size int64) (int, int64) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: demo\r\nContent-Length: %d\r\n", method, path, size)
	if contentType != "" {
		head += "Content-Type: " + contentType + "\r\n"
	}
	if cookie != "" {
		head += "Cookie: seshat=" + cookie + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"+prefix); err != nil {
		t.Fatal(err)
	}
	sent := make(chan int64, 1)
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		n := int64(len(prefix))
		for n < size {
			conn.SetWriteDeadline(time.Now().Add(time.Minute))
			k, err := conn.Write(chunk[:min(int64(len(chunk)), size-n)])
			n += int64(k)
			if err != nil {
				break
			}
		}
		sent <- n
	}()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s with %d bytes: %v", method, path, size, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	conn.Close() // stops the writer if the server kept the connection
	return resp.StatusCode, <-sent
}

func multipartBody(fields map[string]string, file string) (string, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != "" {
		fw, _ := mw.CreateFormFile("upload", "f.bin")
		io.WriteString(fw, file)
	}
	mw.Close()
	return mw.FormDataContentType(), b.String()
}

// TestOversizedBodiesStoreNothing: a form body over the limit was read as
// an empty form (r.FormValue swallowed the error) and the note became
// empty. Now it is 413 and the note stays.
func TestOversizedBodiesStoreNothing(t *testing.T) {
	srv, newClient := startWith(t, seshat.Options{MaxBodyBytes: 1 << 20}, demo.Config{})
	c := newClient()
	if code, _, _ := c.Raw("POST", "/note", "", "application/x-www-form-urlencoded", strings.NewReader("text=kept")); code != 200 {
		t.Fatalf("note: %d", code)
	}
	cookie := c.Cookie()

	t.Run("10 MiB and a few bytes, urlencoded: 413", func(t *testing.T) {
		code, _, _ := c.Raw("POST", "/note", "", "application/x-www-form-urlencoded", strings.NewReader("text="+strings.Repeat("y", 10<<20+10)))
		if code != http.StatusRequestEntityTooLarge || note(t, c) != "kept" {
			t.Fatalf("%d, note %q; want 413 and the note kept", code, note(t, c))
		}
	})
	for _, tt := range []struct{ name, path, ct, prefix string }{
		{"a urlencoded note", "/note", "application/x-www-form-urlencoded", "text="},
		{"a multipart note field", "/note", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n"},
		{"a multipart file", "/note", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"text\"; filename=\"a\"\r\n\r\n"},
		{"a urlencoded login", "/login", "application/x-www-form-urlencoded", "user=bob"},
		{"a multipart login", "/login", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob"},
	} {
		t.Run("200 MB in "+tt.name+": 413, nothing stored, not read to the end", func(t *testing.T) {
			const size = 200 << 20
			code, sent := sendHuge(t, srv, "POST", tt.path, cookie, tt.ct, tt.prefix, size)
			if code != http.StatusRequestEntityTooLarge {
				t.Fatalf("%d; want 413", code)
			}
			if sent >= size {
				t.Fatalf("the server read all %d bytes", sent)
			}
			if note(t, c) != "kept" {
				t.Fatalf("note %q after a refused post", note(t, c))
			}
			if code, _, _ := c.Do("GET", "/whoami", "", nil); code != http.StatusUnauthorized {
				t.Fatalf("whoami %d after a refused login", code)
			}
		})
	}
	for _, path := range []string{"/", "/read", "/whoami", "/healthz", "/sessions"} {
		t.Run("200 MB to GET "+path+", which takes no body: answered, not read to the end", func(t *testing.T) {
			const size = 200 << 20
			code, sent := sendHuge(t, srv, "GET", path, cookie, "application/octet-stream", "", size)
			if code >= 500 || sent >= size {
				t.Fatalf("%d, %d of %d bytes read", code, sent, size)
			}
		})
	}
}

// TestDemoFormLimitWithoutManagerLimit: the demo caps its forms even when
// the manager has no MaxBodyBytes.
func TestDemoFormLimitWithoutManagerLimit(t *testing.T) {
	_, newClient := startWith(t, seshat.Options{}, demo.Config{MaxFormBytes: 1000})
	c := newClient()
	c.Raw("POST", "/note", "", "application/x-www-form-urlencoded", strings.NewReader("text=kept"))
	if code, b, _ := c.Raw("POST", "/note", "", "application/x-www-form-urlencoded", strings.NewReader("text="+strings.Repeat("y", 1000))); code != http.StatusRequestEntityTooLarge || !strings.Contains(b, "at most 1000 bytes") {
		t.Fatalf("%d %q; want 413", code, b)
	}
	ct, body := multipartBody(map[string]string{"text": "z"}, strings.Repeat("f", 2000))
	if code, _, _ := c.Raw("POST", "/note", "", ct, strings.NewReader(body)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("multipart with a 2000-byte file: %d; want 413", code)
	}
	if n := note(t, c); n != "kept" {
		t.Fatalf("note %q", n)
	}
}

// TestMalformedFormsStoreNothing: a form that does not parse is 400, not
// an empty value.
func TestMalformedFormsStoreNothing(t *testing.T) {
	_, newClient := startWith(t, seshat.Options{MaxBodyBytes: 1 << 20}, demo.Config{})
	c := newClient()
	c.Raw("POST", "/note", "", "application/x-www-form-urlencoded", strings.NewReader("text=kept"))
	goodCT, goodBody := multipartBody(map[string]string{"text": "multi"}, "")
	for _, tt := range []struct {
		name, ct, body string
		want           int
	}{
		{"bad percent-encoding", "application/x-www-form-urlencoded", "text=%zz", 400},
		{"bad percent-encoding after a good field", "application/x-www-form-urlencoded", "text=new&x=%", 400},
		{"multipart without a boundary", "multipart/form-data", "--B\r\n", 400},
		{"multipart with an invalid boundary", "multipart/form-data; boundary=\"\"", "--\r\n", 400},
		{"multipart whose boundary is not in the body", "multipart/form-data; boundary=B", "text=new", 400},
		{"multipart cut short", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nnew", 400},
		{"malformed content type", "multipart/form-data; boundary", "text=new", 400},
		{"no text field", "application/x-www-form-urlencoded", "other=1", 400},
		{"a text field in the query only", "text/plain", "", 400},
		{"NUL in the body", "application/x-www-form-urlencoded", "te\x00xt=new", 400},
		{"multipart, well formed", goodCT, goodBody, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := note(t, c)
			path := "/note"
			if tt.name == "a text field in the query only" {
				path += "?text=new"
			}
			code, b, _ := c.Raw("POST", path, "", tt.ct, strings.NewReader(tt.body))
			if code != tt.want {
				t.Fatalf("%d %q; want %d", code, b, tt.want)
			}
			if code != 200 && note(t, c) != before {
				t.Fatalf("note %q after %d; want %q", note(t, c), code, before)
			}
			if code == 200 && note(t, c) != "multi" {
				t.Fatalf("note %q after a good multipart post", note(t, c))
			}
		})
	}
}

// TestLoginRefusesControlCharacters: a user name is shown by the sessions
// page and printed by the command; one that could drive a terminal or
// forge a line is refused at the door.
func TestLoginRefusesControlCharacters(t *testing.T) {
	_, newClient := startWith(t, seshat.Options{}, demo.Config{})
	for _, name := range []string{
		"\x1b[31mroot\x1b[0m", "bob\nalice\t2026-01-01", "bob\rmallory", "bo\x00b", "bob\x7f", "\u009b31m", "evil\u202egnp.exe",
		"a\u2066b", "a\u200fb", "a\u2028b", "\xff\xfe", "tab\there",
	} {
		c := newClient()
		code, b, _ := c.Do("POST", "/login", "", url.Values{"user": {name}})
		if code != http.StatusBadRequest || !strings.Contains(b, "control characters") {
			t.Errorf("login as %q: %d %q; want 400 naming control characters", name, code, b)
		}
		if code, _, _ := c.Do("GET", "/whoami", "", nil); code != http.StatusUnauthorized {
			t.Errorf("after refusing %q: whoami %d", name, code)
		}
	}
	for _, name := range []string{"Zoë", "山田 太郎", "o'brien@example.com", "👩‍💻"} {
		if code, b, _ := newClient().Do("POST", "/login", "", url.Values{"user": {name}}); code != 200 || b != "Logged in as "+name+"\n" {
			t.Errorf("login as %q: %d %q", name, code, b)
		}
	}
}
