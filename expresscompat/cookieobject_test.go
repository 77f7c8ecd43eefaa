package expresscompat

import (
	"encoding/json"
	"maps"
	"testing"
	"time"
)

var now = time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

func options(t *testing.T, o Options) *Options {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &o
}

func TestCookieForChangesOnlyWhatExpressSessionWould(t *testing.T) {
	o := options(t, Options{})
	tests := []struct {
		name   string
		stored string
		idle   time.Duration
		want   string
	}{{
		name:   "every attribute, sameSite true, an unknown member: only expires moves",
		stored: `{"originalMaxAge":7200000,"partitioned":true,"priority":"high","expires":"2020-01-01T00:00:00.000Z","secure":true,"httpOnly":true,"domain":"example.test","path":"/app","sameSite":true,"x-other":{"a":[1,2]}}`,
		idle:   2 * time.Hour,
		want:   `{"originalMaxAge":7200000,"partitioned":true,"priority":"high","expires":"2025-03-04T07:06:07.890Z","secure":true,"httpOnly":true,"domain":"example.test","path":"/app","sameSite":true,"x-other":{"a":[1,2]}}`,
	}, {
		name:   "a browser-session cookie stays one",
		stored: `{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}`,
		idle:   24 * time.Hour, // the key's TTL
		want:   `{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}`,
	}, {
		name:   "maxAge null drops an expiry set by hand, as a touch does",
		stored: `{"originalMaxAge":null,"expires":"2020-01-01T00:00:00.000Z","path":"/"}`,
		idle:   24 * time.Hour,
		want:   `{"originalMaxAge":null,"expires":null,"path":"/"}`,
	}, {
		name:   "differently typed members and spacing are kept",
		stored: `{ "originalMaxAge" : 1000 , "expires" : "x", "secure":"yes","httpOnly":1,"sameSite":"Lax" }`,
		idle:   time.Second,
		want:   `{ "originalMaxAge" : 1000 , "expires" : "2025-03-04T05:06:08.890Z", "secure":"yes","httpOnly":1,"sameSite":"Lax" }`,
	}, {
		name:   "no expires member: added",
		stored: `{"originalMaxAge":1000}`,
		idle:   time.Second,
		want:   `{"originalMaxAge":1000,"expires":"2025-03-04T05:06:08.890Z"}`,
	}, {
		name:   "SetExpiry: a new originalMaxAge",
		stored: `{"originalMaxAge":1000,"expires":null,"path":"/"}`,
		idle:   time.Minute,
		want:   `{"originalMaxAge":60000,"expires":"2025-03-04T05:07:07.890Z","path":"/"}`,
	}, {
		name:   "SetExpiry on a browser-session cookie makes it persistent",
		stored: `{"originalMaxAge":null,"expires":null,"path":"/"}`,
		idle:   time.Minute,
		want:   `{"originalMaxAge":60000,"expires":"2025-03-04T05:07:07.890Z","path":"/"}`,
	}, {
		name:   "not an object: the app's cookie",
		stored: `"garbage"`,
		idle:   24 * time.Hour,
		want:   `{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(o.cookieFor([]byte(tt.stored), tt.idle, now)); got != tt.want {
				t.Fatalf("cookieFor\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestNewCookieIsExpressSessions(t *testing.T) {
	tests := []struct {
		cookie Cookie
		want   string
	}{
		{Cookie{}, `{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}`},
		{
			Cookie{MaxAge: 2 * time.Hour, Domain: "example.test", Path: "/app", Secure: true, SameSite: "true", Partitioned: true, Priority: "high"},
			`{"originalMaxAge":7200000,"partitioned":true,"priority":"high","expires":"2025-03-04T07:06:07.890Z","secure":true,"httpOnly":true,"domain":"example.test","path":"/app","sameSite":true}`,
		},
		{Cookie{MaxAge: time.Second, NoHTTPOnly: true, SameSite: "lax"}, `{"originalMaxAge":1000,"expires":"2025-03-04T05:06:08.890Z","httpOnly":false,"path":"/","sameSite":"lax"}`},
	}
	for _, tt := range tests {
		o := options(t, Options{Cookie: tt.cookie})
		if got := string(o.cookieFor(nil, o.idle(), now)); got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.cookie, got, tt.want)
		}
	}
}

func TestSetCookieIsWhatExpressSessionSends(t *testing.T) {
	tests := []struct {
		obj    string
		secure bool
		want   string
	}{
		{`{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}`, false, "n=v; Path=/; HttpOnly"},
		{
			`{"originalMaxAge":7200000,"partitioned":true,"priority":"high","expires":"2025-03-04T07:06:07.890Z","secure":true,"httpOnly":true,"domain":"example.test","path":"/app","sameSite":true}`,
			true,
			"n=v; Domain=example.test; Path=/app; Expires=Tue, 04 Mar 2025 07:06:07 GMT; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict",
		},
		{`{"secure":true,"path":"/"}`, false, ""}, // Node sends a Secure cookie only on a secure request
		{`{"httpOnly":false,"path":"/","sameSite":"None","priority":"LOW","secure":true}`, true, "n=v; Path=/; Secure; Priority=Low; SameSite=None"},
		{`{"sameSite":false,"priority":null,"domain":"","partitioned":false}`, false, "n=v"},
	}
	for _, tt := range tests {
		if got := setCookie("n", "v", []byte(tt.obj), tt.secure); got != tt.want {
			t.Errorf("setCookie(%s, secure %v)\n got %q\nwant %q", tt.obj, tt.secure, got, tt.want)
		}
	}
}

func TestKeyTTLIsConnectRedis(t *testing.T) {
	o := options(t, Options{TTL: time.Hour})
	if got := o.keyTTL([]byte(`{"expires":"2025-03-04T05:07:07.890Z"}`), now); got != time.Minute {
		t.Errorf("TTL of a cookie expiring in a minute: %v", got)
	}
	if got := o.keyTTL([]byte(`{"expires":null}`), now); got != time.Hour {
		t.Errorf("TTL of a browser-session cookie: %v; want the ttl option", got)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Cookie: Cookie{SameSite: "sometimes"}},
		{Cookie: Cookie{Priority: "urgent"}},
		{Cookie: Cookie{MaxAge: -1}},
		{Secrets: []string{""}},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// FuzzCookieFor checks that whatever the stored cookie object, the result
// is a JSON object whose members other than expires and originalMaxAge
// are the stored ones.
func FuzzCookieFor(f *testing.F) {
	f.Add(`{"originalMaxAge":7200000,"expires":"2020-01-01T00:00:00.000Z","sameSite":true,"x":{"expires":1}}`, int64(3600))
	f.Add(`{"expires":1,"expires":2}`, int64(0))
	f.Add(`{}`, int64(60))
	o := &Options{TTL: time.Hour}
	f.Fuzz(func(t *testing.T, stored string, idleSeconds int64) {
		in, ok := members([]byte(stored))
		if !ok {
			return
		}
		out, ok := members(o.cookieFor([]byte(stored), time.Duration(idleSeconds%1e6)*time.Second, now))
		if !ok {
			t.Fatalf("cookieFor(%s) is not an object", stored)
		}
		delete(in, "expires")
		delete(in, "originalMaxAge")
		delete(out, "expires")
		delete(out, "originalMaxAge")
		if !maps.EqualFunc(in, out, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("cookieFor(%s) changed other members: %v", stored, out)
		}
	})
}
