package seshat

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seshat-go/seshat/store"
)

// Devices configures what a session bound to a user keeps about the device
// it is used from, for a "your devices" page (SessionInfo.Device): the
// browser's user agent, cut short, and the client's network, never its
// whole address. They are recorded when the session is bound to a user
// (SetUser, at login) and, when they changed, on the next refresh of the
// idle expiry (at most once per TouchInterval), and kept sealed like the
// user ID. Sessions bound to no user keep nothing.
//
// The zero value keeps the user agent and the client's /24 (IPv4) or /48
// (IPv6), taken from the connection's peer address.
type Devices struct {
	// Off keeps nothing about devices. Default: false.
	Off bool
	// NoAddress keeps no address, only the user agent. Default: false.
	NoAddress bool
	// IPv4Bits and IPv6Bits are how many leading bits of the client's
	// address are kept: 32 and 128 keep it whole. Defaults: 24 and 48.
	IPv4Bits, IPv6Bits int
	// TrustedProxies are the networks of the proxies in front of the
	// application. When the peer is one of them, the client's address is
	// taken from X-Forwarded-For: the rightmost address that is not a
	// trusted proxy itself (the leftmost ones are whatever the client
	// wrote). Default: none, the peer address is the client's.
	TrustedProxies []netip.Prefix
	// MaxUserAgent is how many bytes of the user agent are kept. Default:
	// 200.
	MaxUserAgent int
}

func (d Devices) withDefaults() (Devices, error) {
	if d.IPv4Bits == 0 {
		d.IPv4Bits = 24
	}
	if d.IPv6Bits == 0 {
		d.IPv6Bits = 48
	}
	if d.MaxUserAgent == 0 {
		d.MaxUserAgent = 200
	}
	if d.IPv4Bits < 0 || d.IPv4Bits > 32 || d.IPv6Bits < 0 || d.IPv6Bits > 128 || d.MaxUserAgent < 0 || d.MaxUserAgent > 1024 {
		return d, fmt.Errorf("%w: Devices: IPv4Bits %d (1–32), IPv6Bits %d (1–128), MaxUserAgent %d (at most 1024)",
			ErrInvalidOptions, d.IPv4Bits, d.IPv6Bits, d.MaxUserAgent)
	}
	proxies := make([]netip.Prefix, len(d.TrustedProxies))
	for i, p := range d.TrustedProxies {
		if !p.IsValid() {
			return d, fmt.Errorf("%w: Devices.TrustedProxies holds an invalid prefix", ErrInvalidOptions)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// ::ffff:10.0.0.0/104 names what peers show as 10.0.0.0/8.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		proxies[i] = p.Masked()
	}
	d.TrustedProxies = proxies
	return d, nil
}

// Device is what a session keeps about the device it is used from.
type Device struct {
	// UserAgent is the browser's User-Agent header, cut short, with
	// control characters and invalid UTF-8 replaced.
	UserAgent string `json:"user_agent,omitempty"`
	// Network is the client's address cut to a prefix, such as
	// "203.0.113.0/24", or "" when unknown or not kept.
	Network string `json:"network,omitempty"`
}

// encoding: the network, a newline, the user agent (which holds no
// newline).
func (d Device) encode() []byte { return []byte(d.Network + "\n" + d.UserAgent) }

func decodeDevice(b []byte) (Device, error) {
	network, ua, ok := strings.Cut(string(b), "\n")
	if !ok {
		return Device{}, fmt.Errorf("%w: device record", ErrDecode)
	}
	return Device{UserAgent: ua, Network: network}, nil
}

// device returns the device of the request a session came with.
func (m *Manager) device(h http.Header, remote string) Device {
	o := &m.opts.Devices
	var d Device
	if h != nil {
		d.UserAgent = cleanUserAgent(h.Get("User-Agent"), o.MaxUserAgent)
	}
	if o.NoAddress {
		return d
	}
	addr, ok := peer(remote)
	if ok && h != nil && trusted(o.TrustedProxies, addr) {
		addr, ok = forwardedFor(h, o.TrustedProxies, addr)
	}
	if !ok {
		return d
	}
	bits := o.IPv6Bits
	if addr.Is4() {
		bits = o.IPv4Bits
	}
	if p, err := addr.Prefix(bits); err == nil {
		d.Network = p.String()
	}
	return d
}

// peer parses a RemoteAddr ("host:port", or a bare address).
func peer(remote string) (netip.Addr, bool) {
	if remote == "" {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right, past the trusted
// proxies, to the first address a trusted proxy vouches for. An entry that
// is not an address ends the walk: nothing left of it can be trusted.
func forwardedFor(h http.Header, proxies []netip.Prefix, peerAddr netip.Addr) (netip.Addr, bool) {
	lines := h.Values("X-Forwarded-For")
	addr := peerAddr
	for i := len(lines) - 1; i >= 0; i-- {
		parts := strings.Split(lines[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := peer(strings.TrimSpace(parts[j]))
			if !ok {
				return addr, true
			}
			addr = a
			if !trusted(proxies, a) {
				return addr, true
			}
		}
	}
	return addr, true
}

// cleanUserAgent cuts ua to at most n bytes at a character boundary and
// replaces control characters and invalid UTF-8 with U+FFFD.
func cleanUserAgent(ua string, n int) string {
	var b strings.Builder
	for _, r := range ua {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SetRemoteAddr gives a session opened outside the middleware (Open,
// OpenRequest) the network address of the client's connection, as
// http.Request.RemoteAddr holds it ("host:port"), for its device record
// (Options.Devices). The middleware sets it itself.
func (s *Session) SetRemoteAddr(addr string) {
	s.mu.Lock()
	s.remote = addr
	s.mu.Unlock()
}

// recordDevice records the request's device in the session with its other
// changes, unless devices are off or the session was opened with nothing
// to tell (Open, Edit). s.mu is held and the session loaded.
func (s *Session) recordDevice() error {
	if s.m.opts.Devices.Off || (s.hdr == nil && s.remote == "") {
		return nil
	}
	d := s.m.device(s.hdr, s.remote)
	s.ensureID()
	s.device = nil // stored with these changes instead
	return s.setLocal(deviceValue, s.stored(deviceValue, d.encode()))
}

// changedDevice returns the request's device, sealed, when it differs from
// the one the session keeps, else nil. s.mu is held and the session
// loaded.
func (s *Session) changedDevice() []byte {
	if s.hdr == nil && s.remote == "" {
		return nil // opened with nothing to tell: keep what the browser said
	}
	d := s.m.device(s.hdr, s.remote)
	if b, ok := s.rec.Values[deviceValue]; ok {
		if p, err := s.plain(deviceValue, b); err == nil {
			if old, err := decodeDevice(p); err == nil && old == d {
				return nil
			}
		}
	}
	return s.stored(deviceValue, d.encode())
}

// commitDevice stores a changed device found at the touch, for a request
// that changes nothing else: best effort, since the request asked for no
// write and must not fail for one (a logout racing it, a store slow to
// answer). s.mu is held.
func (s *Session) commitDevice(now time.Time) {
	b := s.device
	s.device = nil
	if b == nil || s.state != stateStored {
		return
	}
	d := &store.Delta{Now: now, TouchAfter: s.m.opts.TouchInterval, Set: map[string][]byte{deviceValue: b}, MaxSize: s.m.opts.MaxSessionBytes}
	err := s.m.op(s.ctx, "commit", true, func(ctx context.Context) error {
		_, err := s.m.store.Commit(ctx, s.key, d)
		return err
	})
	if err != nil {
		s.m.opts.Logger.Debug("seshat: the session's new device was not stored", "err", err)
		return
	}
	s.rec.Values[deviceValue] = b
}
