package fiberseshat_test

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/fiberseshat"
)

// A client without cookies carries its session in Authorization: Bearer
// through fiber, as through net/http, and a login records its device.
func TestBearerCarrierAndDevice(t *testing.T) {
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
		Carrier: seshat.Carrier{Header: "Authorization", HeaderOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	f := fiber.New()
	f.Use(fiberseshat.Middleware(m))
	f.Post("/login", func(c fiber.Ctx) error {
		s := fiberseshat.Session(c)
		if err := s.Regenerate(); err != nil {
			return err
		}
		return s.SetUser("bob")
	})
	f.Get("/incr", func(c fiber.Ctx) error {
		n, err := fiberseshat.Session(c).Incr("n", 1)
		if err != nil {
			return err
		}
		return c.SendString(strings.Repeat("|", int(n)))
	})
	f.Get("/devices", func(c fiber.Ctx) error {
		list, err := fiberseshat.Session(c).UserSessions()
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].Device == nil || !list[0].Current {
			return c.Status(500).SendString("no current device")
		}
		return c.SendString(list[0].Device.Network + " " + list[0].Device.UserAgent)
	})
	base := listen(t, f)
	do := func(method, path, token string) (*http.Response, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("User-Agent", "FiberClient/1.0")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := do("POST", "/login", "")
	token := resp.Header.Get("Session-Token")
	if resp.StatusCode != 200 || token == "" || len(resp.Cookies()) != 0 {
		t.Fatalf("login: %d, token %q, cookies %v", resp.StatusCode, token, resp.Cookies())
	}
	for want := 1; want <= 3; want++ {
		if _, body := do("GET", "/incr", token); body != strings.Repeat("|", want) {
			t.Fatalf("increment %d with the bearer token: %q", want, body)
		}
	}
	if resp, body := do("GET", "/devices", token); resp.StatusCode != 200 || body != "127.0.0.0/24 FiberClient/1.0" {
		t.Fatalf("devices: %d %q", resp.StatusCode, body)
	}
}

// Behind a trusted proxy that adds its own X-Forwarded-For line after the
// one the client wrote, the device's network is the proxy's word.
func TestDeviceBehindAProxyAddingALine(t *testing.T) {
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
		Devices: seshat.Devices{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		t.Fatal(err)
	}
	f := fiber.New()
	f.Use(fiberseshat.Middleware(m))
	f.Post("/login", func(c fiber.Ctx) error {
		s := fiberseshat.Session(c)
		s.Regenerate()
		if err := s.SetUser("bob"); err != nil {
			return err
		}
		return c.SendString("ok")
	})
	req, _ := http.NewRequest("POST", listen(t, f)+"/login", nil)
	req.Header.Add("X-Forwarded-For", "6.6.6.6")      // the client's own
	req.Header.Add("X-Forwarded-For", "198.51.100.9") // the proxy's
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	infos, err := m.UserSessions(t.Context(), "bob")
	if err != nil || len(infos) != 1 || infos[0].Device == nil || infos[0].Device.Network != "198.51.100.0/24" {
		t.Fatalf("device %+v, %v; want the proxy's 198.51.100.0/24", infos, err)
	}
}
