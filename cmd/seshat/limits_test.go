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

// TestServeConnectionLimit: at --max-connections, the next connection is
// not served until one closes, and then it is.
func TestServeConnectionLimit(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	base, _ := runServe(t, "--max-connections", "2")
	// runServe's readiness check may leave a keep-alive connection in the
	// default client's pool; close it so that it holds no slot.
	http.DefaultClient.CloseIdleConnections()

	request := func(c net.Conn) *bufio.Reader {
		io.WriteString(c, "GET /read HTTP/1.1\r\nHost: demo\r\n\r\n")
		return bufio.NewReader(c)
	}
	held := []net.Conn{dialRaw(t, base), dialRaw(t, base)}
	for i, c := range held {
		if resp, body, err := readResponse(c, request(c), 10*time.Second); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d of 2: %v %q", i+1, err, body)
		}
	}
	third := dialRaw(t, base) // the kernel completes the handshake; the server does not accept it
	r := request(third)
	if resp, _, err := readResponse(third, r, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection with 2 held open was served: %v %v", resp, err)
	}
	held[0].Close()
	resp, body, err := readResponse(third, r, 10*time.Second)
	if err != nil || resp.StatusCode != 200 || body != "Number of views: 0\n" {
		t.Fatalf("the third connection after one closed: %v %q", err, body)
	}
}

func TestServeLimitsFromFlags(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	base, _ := runServe(t, "--max-header-bytes", "1024", "--max-body-bytes", "2000")
	req, _ := http.NewRequest("GET", base+"/read", nil)
	req.Header.Set("X-Big", strings.Repeat("h", 20<<10))
	if code, _, _ := send(t, req, ""); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("20 KiB of headers with --max-header-bytes 1024: %d; want 431", code)
	}
	code, body, _ := post(t, base+"/note", "", map[string][]string{"text": {strings.Repeat("n", 2000)}})
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

// TestLimitListener: Accept waits at the limit, resumes when a connection
// closes (once, however often it is closed), and returns when the
// listener is closed.
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
	dial()
	first := <-accepted
	dial()
	dial()
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted with a limit of 1")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	second := <-accepted
	select {
	case <-accepted:
		t.Fatal("two slots freed by one connection closed twice")
	case <-time.After(200 * time.Millisecond):
	}
	second.Close()
	third := <-accepted
	ln.Close() // wakes the Accept now waiting for a slot
	if _, ok := <-accepted; ok {
		t.Fatal("accepted after Close")
	}
	third.Close()
}
