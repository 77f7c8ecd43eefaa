package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seshat-go/seshat/internal/testhttp"
)

// dialRaw opens a plain connection to the server behind base.
func dialRaw(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from c within wait.
func readResponse(c net.Conn, r *bufio.Reader, wait time.Duration) (*http.Response, string, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// closedWithin waits up to wait for the server to close c and reports how
// long that took from start; anything the server sends first is skipped.
func closedWithin(t *testing.T, c net.Conn, start time.Time, wait time.Duration) time.Duration {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("still open after %v", wait)
	}
	return time.Since(start)
}

// TestServeClosesIdleAndSlowConnections: 500 idle keep-alive and 500
// slow-body connections stayed open indefinitely; now each is closed after
// its timeout.
func TestServeClosesIdleAndSlowConnections(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	const (
		keepAlive  = 300 * time.Millisecond
		read       = 600 * time.Millisecond
		readHeader = 400 * time.Millisecond
		generous   = 10 * time.Second
	)
	base, _ := runServe(t, "--keep-alive-timeout", keepAlive.String(), "--read-timeout", read.String(),
		"--read-header-timeout", readHeader.String())

	t.Run("an idle keep-alive connection is closed after --keep-alive-timeout", func(t *testing.T) {
		c := dialRaw(t, base)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: demo\r\n\r\n")
		resp, body, err := readResponse(c, bufio.NewReader(c), generous)
		if err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("first request: %v %v %q", err, resp, body)
		}
		answered := time.Now()
		took := closedWithin(t, c, answered, generous)
		if took < keepAlive/2 {
			t.Fatalf("closed %v after the answer; before the %v keep-alive timeout", took, keepAlive)
		}
		t.Logf("idle connection closed %v after its last answer (--keep-alive-timeout %v)", took.Round(time.Millisecond), keepAlive)
	})

	t.Run("a body that trickles in is cut off at --read-timeout", func(t *testing.T) {
		c := dialRaw(t, base)
		start := time.Now()
		io.WriteString(c, "POST /note HTTP/1.1\r\nHost: demo\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ntext=")
		stop := make(chan struct{})
		defer close(stop)
		go func() { // one byte every 20 ms: 50 bytes a second, for ever
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
		r := bufio.NewReader(c)
		resp, body, err := readResponse(c, r, generous)
		if err == nil && resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("%d %q; want 408 or the connection closed", resp.StatusCode, body)
		}
		took := closedWithin(t, c, start, generous)
		if took < read/2 {
			t.Fatalf("closed after %v; before the %v read timeout", took, read)
		}
		t.Logf("slow-body connection answered %v and closed %v after it started (--read-timeout %v)",
			map[bool]string{true: "408", false: "nothing"}[err == nil], took.Round(time.Millisecond), read)
	})

	t.Run("headers that never end are cut off at --read-header-timeout", func(t *testing.T) {
		c := dialRaw(t, base)
		start := time.Now()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: demo\r\nX-Slow: ")
		took := closedWithin(t, c, start, generous)
		if took < readHeader/2 {
			t.Fatalf("closed after %v; before the %v header timeout", took, readHeader)
		}
		t.Logf("slow-header connection closed %v after it started (--read-header-timeout %v)", took.Round(time.Millisecond), readHeader)
	})

	t.Run("a connection that sends nothing is cut off at --read-header-timeout", func(t *testing.T) {
		c := dialRaw(t, base)
		took := closedWithin(t, c, time.Now(), generous)
		t.Logf("silent connection closed %v after it opened", took.Round(time.Millisecond))
	})
}

// TestServeConnectionLimit: at --max-connections, a connection idle
// between requests is closed to make room; with none idle, the next
// connection is not served until one closes, and then it is.
func TestServeConnectionLimit(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	base, _ := runServe(t, "--max-connections", "2")
	// runServe's readiness check may leave a keep-alive connection in the
	// default client's pool; close it so that it holds no slot.
	http.DefaultClient.CloseIdleConnections()

	get := func(c net.Conn) *bufio.Reader {
		io.WriteString(c, "GET /read HTTP/1.1\r\nHost: demo\r\n\r\n")
		return bufio.NewReader(c)
	}
	// Two requests whose bodies never come: both connections are busy.
	busy := []net.Conn{dialRaw(t, base), dialRaw(t, base)}
	for _, c := range busy {
		io.WriteString(c, "POST /note HTTP/1.1\r\nHost: demo\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntext=")
	}
	third := dialRaw(t, base) // the kernel completes the handshake; the server does not accept it
	r := get(third)
	if resp, _, err := readResponse(third, r, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection with 2 busy was served: %v %v", resp, err)
	}
	busy[0].Close()
	resp, body, err := readResponse(third, r, 10*time.Second)
	if err != nil || resp.StatusCode != 200 || body != "Number of views: 0\n" {
		t.Fatalf("the third connection after a busy one closed: %v %q", err, body)
	}

	// Now the third is idle between requests: a fourth takes its place.
	fourth := dialRaw(t, base)
	if resp, body, err := readResponse(fourth, get(fourth), 10*time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a fourth connection with one busy and one idle: %v %q", err, body)
	}
	closedWithin(t, third, time.Now(), 10*time.Second)
}

func TestServeLimitsFromFlags(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	base, _ := runServe(t, "--max-header-bytes", "1024", "--max-body-bytes", "2000")
	web := testhttp.New(t, base)
	req := web.Request("GET", "/read", nil)
	req.Header.Set("X-Big", strings.Repeat("h", 20<<10))
	if code := web.Send(req, "").Status; code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("20 KiB of headers with --max-header-bytes 1024: %d; want 431", code)
	}
	code, body, _ := web.Do("POST", "/note", "", map[string][]string{"text": {strings.Repeat("n", 2000)}})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "at most 2000 bytes") {
		t.Errorf("a 2005-byte form with --max-body-bytes 2000: %d %q; want 413", code, body)
	}

	for _, args := range [][]string{
		{"--max-body-bytes", "0"}, {"--read-timeout", "0s"}, {"--keep-alive-timeout", "-1s"},
		{"--max-connections", "0"}, {"--max-header-bytes", "-5"},
	} {
		cmd := newRoot()
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("serve %v: %v; want an error naming %s", args, err, args[0])
		}
	}
}

// TestLimitListener: at the limit a new connection waits; it takes the
// slot of one that closes (once, however often it is closed) or of one
// that goes idle (which is closed); Close wakes a waiting Accept.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 1)
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	none := func(why string) {
		t.Helper()
		select {
		case <-accepted:
			t.Fatal(why)
		case <-time.After(200 * time.Millisecond):
		}
	}
	dial()
	first := <-accepted
	dial()
	dial()
	none("a second connection was accepted with a limit of 1")
	first.Close()
	first.Close() // a second Close must not free a second slot
	second := <-accepted
	none("two slots freed by one connection closed twice")

	// The second goes idle: the waiting third takes its place, and the
	// second is closed.
	ln.ConnState(second, http.StateActive)
	none("accepted while the only connection is active")
	ln.ConnState(second, http.StateIdle)
	third := <-accepted
	if _, err := second.Write([]byte("x")); err == nil {
		t.Fatal("the idle connection was not closed to make room")
	}
	ln.ConnState(third, http.StateActive)

	dial() // waits for a slot
	none("a connection beyond the limit was accepted")
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("accepted after Close")
	}
	third.Close()
}
