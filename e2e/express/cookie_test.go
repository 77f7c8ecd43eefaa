package express_test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat/expresscompat"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// cookieSettings are the Node apps' session settings of the cookie test:
// between them, every attribute express-session's cookie takes.
var cookieSettings = []struct {
	name string
	o    expresscompat.Options
}{
	{"every attribute", expresscompat.Options{Cookie: expresscompat.Cookie{
		MaxAge: 2 * time.Hour, Domain: "example.test", Path: "/", SameSite: "true", Secure: true, Partitioned: true, Priority: "high",
	}}},
	{"browser session, rolling", expresscompat.Options{Name: "app.sid", Prefix: "app:", Rolling: true, Cookie: expresscompat.Cookie{
		Domain: "example.test", SameSite: "Strict", Secure: true, NoHTTPOnly: true, Priority: "low",
	}}},
	{"SameSite=None, rolling", expresscompat.Options{Rolling: true, Cookie: expresscompat.Cookie{
		MaxAge: 30 * time.Minute, SameSite: "none", Secure: true, Partitioned: true, Priority: "Medium",
	}}},
}

// TestExpressSessionCookie holds the Go side to express-session's cookie:
// for the same session, the Set-Cookie Node sends after a Go write is the
// one it sent before but for the expiry, which is what Node's own save
// sets; the stored cookie object keeps every member but expires; what Go
// sends is what Node sends; a session Go creates under the same settings
// is one Node could have created.
func TestExpressSessionCookie(t *testing.T) {
	nodeBin, dir := installNode(t)
	srv := redistest.Start(t)
	rdb := redisClient(t, srv.URL())
	for _, stack := range stacks {
		for _, cs := range cookieSettings {
			t.Run(stack+"/"+cs.name, func(t *testing.T) {
				o := cs.o
				o.Secrets, o.TrustProxy = secrets, true
				c := &cookieCheck{t: t, rdb: rdb, o: o, name: o.Name, prefix: o.Prefix}
				if c.name == "" {
					c.name = "connect.sid"
				}
				if c.prefix == "" {
					c.prefix = "sess:"
				}
				c.node = startNode(t, nodeBin, dir, srv.URL(), stack, o)
				c.gosrv = startGo(t, srv.URL(), o)
				c.run()
			})
		}
	}
}

type cookieCheck struct {
	t            *testing.T
	rdb          *redis.Client
	o            expresscompat.Options
	name, prefix string
	node, gosrv  string
}

// setCookie is a parsed Set-Cookie header.
type setCookie struct {
	raw, value string
	attrs      map[string]string // lower-case name → value, Expires left out
	expires    time.Time         // zero: none (a browser-session cookie)
}

func parseSetCookie(t *testing.T, raw string) setCookie {
	t.Helper()
	parts := strings.Split(raw, "; ")
	_, v, _ := strings.Cut(parts[0], "=")
	sc := setCookie{raw: raw, value: v, attrs: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "expires") {
			e, err := http.ParseTime(v)
			if err != nil {
				t.Fatalf("Set-Cookie %q: expires: %v", raw, err)
			}
			sc.expires = e
			continue
		}
		sc.attrs[strings.ToLower(k)] = v
	}
	return sc
}

// call sends a request as over HTTPS behind a proxy and returns the body
// and the session cookie the answer set ("" when none).
func (c *cookieCheck) call(base, method, path, cookie string, form url.Values) (string, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-Proto", "https")
	if cookie != "" {
		req.Header.Set("Cookie", c.name+"="+cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, c.name+"=") {
			return string(b), v
		}
	}
	return string(b), ""
}

func sessionID(value string) string {
	v, _ := url.QueryUnescape(value)
	return strings.TrimPrefix(v[:strings.LastIndexByte(v, '.')], "s:")
}

// stored returns the cookie object of the session's stored document.
func (c *cookieCheck) stored(id string) map[string]json.RawMessage {
	c.t.Helper()
	raw, err := c.rdb.Get(c.t.Context(), c.prefix+id).Result()
	if err != nil {
		c.t.Fatalf("the session's document: %v", err)
	}
	var d struct{ Cookie map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(raw), &d); err != nil || d.Cookie == nil {
		c.t.Fatalf("stored %s: no cookie object (%v)", raw, err)
	}
	return d.Cookie
}

// storedExpires is a stored cookie object's expires; zero for null.
func (c *cookieCheck) storedExpires(obj map[string]json.RawMessage) time.Time {
	c.t.Helper()
	if string(obj["expires"]) == "null" {
		return time.Time{}
	}
	var s string
	json.Unmarshal(obj["expires"], &s)
	e, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.t.Fatalf("expires %s: %v", obj["expires"], err)
	}
	return e
}

// sameObject checks that two stored cookie objects have the same members,
// byte for byte, expires aside; originalMaxAge may differ by a few
// milliseconds between two objects Node wrote (Node recomputes it from the
// clock on every save).
func (c *cookieCheck) sameObject(what string, got, want map[string]json.RawMessage, nodeClock bool) {
	c.t.Helper()
	for k := range mergeKeys(got, want) {
		if k == "expires" {
			continue
		}
		g, w := string(got[k]), string(want[k])
		if k == "originalMaxAge" && nodeClock && g != "null" && w != "null" {
			var gn, wn float64
			json.Unmarshal(got[k], &gn)
			json.Unmarshal(want[k], &wn)
			if math.Abs(gn-wn) <= 5 {
				continue
			}
		}
		if g != w {
			c.t.Errorf("%s: cookie member %q is %s; want %s\n got %v\nwant %v", what, k, g, w, asText(got), asText(want))
		}
	}
}

func mergeKeys(a, b map[string]json.RawMessage) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func asText(m map[string]json.RawMessage) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// sameCookie checks that a Set-Cookie has want's attributes and, with
// sameValue, its value; and the expiry wantExpires (zero: none) to the
// second.
func (c *cookieCheck) sameCookie(what, got string, want setCookie, sameValue bool, wantExpires time.Time) setCookie {
	c.t.Helper()
	if got == "" {
		c.t.Fatalf("%s: no Set-Cookie; want one like %q", what, want.raw)
	}
	g := parseSetCookie(c.t, got)
	if sameValue && g.value != want.value {
		c.t.Errorf("%s: value %q; want %q", what, g.value, want.value)
	}
	if len(g.attrs) != len(want.attrs) {
		c.t.Errorf("%s: %q; want the attributes of %q", what, got, want.raw)
	}
	for k, v := range want.attrs {
		if gv, ok := g.attrs[k]; !ok || gv != v {
			c.t.Errorf("%s: %q; want the attributes of %q", what, got, want.raw)
			break
		}
	}
	switch {
	case wantExpires.IsZero() && !g.expires.IsZero():
		c.t.Errorf("%s: %q has an expiry; want a browser-session cookie", what, got)
	case !wantExpires.IsZero() && g.expires.Sub(wantExpires.Truncate(time.Second)).Abs() > time.Second:
		c.t.Errorf("%s: %q expires %v; want %v", what, got, g.expires, wantExpires)
	}
	return g
}

func (c *cookieCheck) run() {
	t := c.t
	persistent := c.o.Cookie.MaxAge > 0
	// after is when Node's save at t would have the cookie expire.
	after := func(at time.Time) time.Time {
		if !persistent {
			return time.Time{}
		}
		return at.Add(c.o.Cookie.MaxAge)
	}
	// within checks a stored expiry against Node's rule for a save between
	// from and now.
	within := func(what string, obj map[string]json.RawMessage, from time.Time) {
		t.Helper()
		e := c.storedExpires(obj)
		switch {
		case !persistent && !e.IsZero():
			t.Errorf("%s: a browser-session cookie stored expires %v", what, e)
		case persistent && (e.Before(after(from).Add(-time.Millisecond)) || e.After(after(time.Now()))):
			t.Errorf("%s: stored expires %v; want the save's time + maxAge, between %v and %v", what, e, after(from), after(time.Now()))
		}
	}

	// A session Node created: its cookie and cookie object.
	_, raw := c.call(c.node, "POST", "/login", "", url.Values{"user": {"ann"}})
	first := parseSetCookie(t, raw)
	id := sessionID(first.value)
	obj := c.stored(id)
	if e := c.storedExpires(obj); !e.Truncate(time.Second).Equal(first.expires) {
		t.Fatalf("Node sent %q for a stored expiry %v", raw, e)
	}

	// A Go write: only expires moves, to what a Node save would set; Go
	// sends what Node would (Node sends no cookie on a write to a
	// browser-session cookie, unless rolling).
	t0 := time.Now()
	if body, _ := c.call(c.gosrv, "GET", "/incr", first.value, nil); body != "1\n" {
		t.Fatalf("Go incr: %q", body)
	}
	afterGo := c.stored(id)
	c.sameObject("after a Go write", afterGo, obj, false)
	within("after a Go write", afterGo, t0)
	t1 := time.Now()
	body2, goCookie := c.call(c.gosrv, "GET", "/incr", first.value, nil)
	if body2 != "2\n" {
		t.Fatalf("second Go incr: %q", body2)
	}
	if !persistent && !c.o.Rolling {
		if goCookie != "" {
			t.Errorf("Go sent %q after a write to a browser-session cookie; Node sends none", goCookie)
		}
	} else {
		c.sameCookie("Go's cookie after a write", goCookie, first, true, c.storedExpires(c.stored(id)))
		within("after a second Go write", c.stored(id), t1)
	}

	// Node's next cookie for the session: as before, but for the expiry.
	t2 := time.Now()
	body, nodeCookie := c.call(c.node, "GET", "/incr", first.value, nil)
	if body != "3\n" {
		t.Fatalf("Node incr after two Go increments: %q", body)
	}
	afterNode := c.stored(id)
	c.sameObject("Node's save after Go's", afterNode, obj, true)
	within("Node's save after Go's", afterNode, t2)
	var nodeNext setCookie
	if !persistent && !c.o.Rolling {
		if nodeCookie != "" {
			t.Errorf("Node sent %q for a browser-session cookie", nodeCookie)
		}
	} else {
		nodeNext = c.sameCookie("Node's cookie after Go's writes", nodeCookie, first, true, c.storedExpires(afterNode))
	}

	// A read: with rolling both send the cookie, the same one.
	if c.o.Rolling {
		t3 := time.Now()
		_, n := c.call(c.node, "GET", "/count", first.value, nil)
		_, g := c.call(c.gosrv, "GET", "/count", first.value, nil)
		c.sameCookie("Node's rolling cookie", n, first, true, after(t3))
		c.sameCookie("Go's rolling cookie", g, first, true, after(t3))
		if ttl := c.rdb.PTTL(t.Context(), c.prefix+id).Val(); persistent && ttl < c.o.Cookie.MaxAge-5*time.Second {
			t.Errorf("after a rolling read on Go the key lives %v; want about %v", ttl, c.o.Cookie.MaxAge)
		}
	} else if _, g := c.call(c.gosrv, "GET", "/count", first.value, nil); g != "" {
		t.Errorf("Go sent %q on a read without rolling; Node sends none", g)
	}

	// A cookie signed with the older secret: Go signs it again, with the
	// session's own attributes and expiry (no Max-Age).
	old := expresscompat.Cookies(secrets[1]).Encode(id)
	t4 := time.Now()
	_, resigned := c.call(c.gosrv, "GET", "/count", old, nil)
	c.sameCookie("Go's re-signed cookie", resigned, first, true, after(t4))

	// A session Go creates under the same settings: the cookie and the
	// cookie object Node would have made, and Node then sends for it what
	// it sends for its own.
	t5 := time.Now()
	_, goNew := c.call(c.gosrv, "POST", "/login", "", url.Values{"user": {"bob"}})
	created := c.sameCookie("Go's cookie for a session it created", goNew, first, false, after(t5))
	goID := sessionID(created.value)
	c.sameObject("the cookie object of a session Go created", c.stored(goID), obj, true)
	within("a session Go created", c.stored(goID), t5)
	if body, _ := c.call(c.node, "GET", "/whoami", created.value, nil); body != "bob\n" {
		t.Fatalf("Node whoami on a session Go created: %q", body)
	}
	t6 := time.Now()
	_, n := c.call(c.node, "GET", "/incr", created.value, nil)
	if nodeNext.raw != "" {
		c.sameCookie("Node's cookie for a session Go created", n, nodeNext, false, after(t6))
	} else if n != "" {
		t.Errorf("Node sent %q for a session Go created; for its own it sends none", n)
	}
	c.sameObject("Node's save of a session Go created", c.stored(goID), obj, true)
}
