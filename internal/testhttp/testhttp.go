// Package testhttp is the HTTP client of seshat's tests: it sends a
// request with a session cookie (a form, a raw body, or a request built by
// the test) and returns the status, the body and the session cookie the
// answer set. Every module of the repository may import it (an internal
// package is importable from under its parent's path); it needs nothing
// but the standard library.
package testhttp

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// Client sends requests to one server.
type Client struct {
	// T, when set, fails the test (Errorf, so from any goroutine) on a
	// request that gets no answer. When nil, such a request returns
	// status 0 and the error's text as the body.
	T testing.TB
	// URL is the server's base URL: request paths are appended to it.
	URL string
	// CookieName is the session cookie's name: "seshat" when empty.
	CookieName string
	// HTTP sends the requests: http.DefaultClient when nil. With a cookie
	// jar it keeps cookies as a browser does (see NewBrowser).
	HTTP *http.Client
}

// New returns a client of the server at url that fails t on a request
// that gets no answer.
func New(t testing.TB, url string) *Client { return &Client{T: t, URL: url} }

// NewBrowser returns a client of the server at url that keeps cookies in
// its own jar, as a browser does, and follows no redirect (a 303 is
// returned as is).
func NewBrowser(t testing.TB, url string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{T: t, URL: url, HTTP: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Response is an answer, its body read.
type Response struct {
	Status int
	Body   string
	Header http.Header
	// SetCookie is the value of the session cookie the answer set: "" if
	// it set none or cleared it (an empty value, or Max-Age below 0).
	SetCookie string
	// Cookies are all the cookies the answer set or cleared.
	Cookies []*http.Cookie
	// Err is why the request got no answer (then Status is 0).
	Err error
}

const form = "application/x-www-form-urlencoded"

// Do sends method path with the session cookie value (none if "") and a
// form body (none if nil), and returns the status, the body and the value
// of the session cookie the answer set ("" if it set none or cleared it).
func (c *Client) Do(method, path, cookie string, f url.Values) (status int, body, setCookie string) {
	if c.T != nil {
		c.T.Helper()
	}
	if f == nil {
		return c.Raw(method, path, cookie, "", nil)
	}
	return c.Raw(method, path, cookie, form, strings.NewReader(f.Encode()))
}

// Raw is Do with a body of any content type (none if ""), sent as is.
func (c *Client) Raw(method, path, cookie, contentType string, body io.Reader) (status int, respBody, setCookie string) {
	if c.T != nil {
		c.T.Helper()
	}
	req := c.Request(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	r := c.Send(req, cookie)
	return r.Status, r.Body, r.SetCookie
}

// Request returns a request for method path (body may be nil), to set
// headers on before Send. It panics on an invalid method or URL, a
// mistake in the test.
func (c *Client) Request(method, path string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, c.URL+path, body)
	if err != nil {
		panic(err)
	}
	return req
}

// Send sends req with the session cookie value (none if ""; sent as is,
// unchecked, before any cookie the jar holds) and returns the whole
// answer.
func (c *Client) Send(req *http.Request, cookie string) *Response {
	if c.T != nil {
		c.T.Helper()
	}
	if cookie != "" {
		req.Header.Set("Cookie", c.cookieName()+"="+cookie)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return c.fail(req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // what came, if the server cut it short
	r := &Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header, Cookies: resp.Cookies()}
	for _, k := range r.Cookies {
		if k.Name == c.cookieName() {
			r.SetCookie = k.Value
			if k.MaxAge < 0 {
				r.SetCookie = ""
			}
		}
	}
	return r
}

func (c *Client) fail(method, path string, err error) *Response {
	if c.T != nil {
		c.T.Helper()
		c.T.Errorf("%s %s: %v", method, path, err)
		return &Response{Err: err}
	}
	return &Response{Body: err.Error(), Err: err}
}

// Cookie is the value of the session cookie in the client's jar ("" if
// it holds none, or has no jar).
func (c *Client) Cookie() string {
	if c.HTTP == nil || c.HTTP.Jar == nil {
		return ""
	}
	u, _ := url.Parse(c.URL)
	for _, k := range c.HTTP.Jar.Cookies(u) {
		if k.Name == c.cookieName() {
			return k.Value
		}
	}
	return ""
}

// SetCookie puts the session cookie value v in the client's jar, as if
// the server had set it (a client without a jar ignores it).
func (c *Client) SetCookie(v string) {
	if c.HTTP == nil || c.HTTP.Jar == nil {
		return
	}
	u, _ := url.Parse(c.URL)
	c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: c.cookieName(), Value: v, Path: "/"}})
}

func (c *Client) cookieName() string {
	if c.CookieName == "" {
		return "seshat"
	}
	return c.CookieName
}
