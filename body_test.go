package seshat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// bodyReport runs the middleware with a handler that parses the form and
// reports what it found: the error's kind, or the length of field "text".
func bodyReport(limit int64) http.Handler {
	m, err := New(Options{Secrets: [][]byte{testSecret}, MaxBodyBytes: limit})
	if err != nil {
		panic(err)
	}
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, fmt.Sprintf("too large: limit %d", tooLarge.Limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "text: %d bytes", len(r.PostForm.Get("text")))
	}))
}

func TestMaxBodyBytes(t *testing.T) {
	post := func(h http.Handler, body string) (int, string) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	t.Run("a body within the limit is read whole", func(t *testing.T) {
		if code, b := post(bodyReport(1000), "text="+strings.Repeat("x", 900)); code != 200 || b != "text: 900 bytes" {
			t.Fatalf("%d %q", code, b)
		}
	})
	t.Run("a body over the limit is an *http.MaxBytesError, not an empty form", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader("text="+strings.Repeat("x", 1000))))
		req.ContentLength = -1 // chunked: the length is known only by reading
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		bodyReport(1000).ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "limit 1000") {
			t.Fatalf("%d %q; want 413 from the handler", rec.Code, rec.Body.String())
		}
	})
	t.Run("a body declared over the limit is answered 413 before the handler runs", func(t *testing.T) {
		m, err := New(Options{Secrets: [][]byte{testSecret}, MaxBodyBytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran = true
			m.Session(r).Incr("views", 1)
		}))
		code, _ := post(h, "text="+strings.Repeat("x", 1000))
		if code != http.StatusRequestEntityTooLarge || ran {
			t.Fatalf("status %d, handler ran %v; want 413 and no handler (nothing stored)", code, ran)
		}
		if StatusCode(&http.MaxBytesError{Limit: 1}) != http.StatusRequestEntityTooLarge {
			t.Fatal("StatusCode does not map *http.MaxBytesError to 413")
		}
	})
	t.Run("zero means no limit", func(t *testing.T) {
		if code, b := post(bodyReport(0), "text="+strings.Repeat("x", 1<<20)); code != 200 || b != "text: 1048576 bytes" {
			t.Fatalf("%d %q", code, b)
		}
	})
}

// TestMaxBodyBytesStopsReading sends a body far over the limit through a
// real server: the answer is 413 and the server closes the connection
// instead of reading the rest.
func TestMaxBodyBytesStopsReading(t *testing.T) {
	srv := httptest.NewServer(bodyReport(4096))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 1 << 30 // announced, never sent in full
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\ntext=", size)
	// Write in the background until the server closes; count what it took.
	sent := make(chan int64, 1)
	go func() {
		chunk := []byte(strings.Repeat("x", 64<<10))
		var n int64
		for n < size {
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			k, err := conn.Write(chunk)
			n += int64(k)
			if err != nil {
				break
			}
		}
		sent <- n
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("%d close=%v %q; want 413 and Connection: close", resp.StatusCode, resp.Close, b)
	}
	if n := <-sent; n >= size {
		t.Fatalf("the server read all %d bytes of a body over a 4096-byte limit", n)
	} else {
		t.Logf("the client got %d bytes out before the server closed (socket buffers included)", n)
	}
}

// TestMultipartTempFilesRemoved: the middleware hands the handler a copy
// of the request, and the server cleans up only the multipart form of its
// own; the middleware removes the copy's temporary files itself.
func TestMultipartTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	m, err := New(Options{Secrets: [][]byte{testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	var onDisk bool
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1024); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		entries, _ := os.ReadDir(dir)
		onDisk = len(entries) > 0
	})))
	defer srv.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("upload", "big.bin")
	fw.Write(bytes.Repeat([]byte("f"), 100<<10))
	mw.Close()
	resp, err := http.Post(srv.URL, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !onDisk {
		t.Fatalf("%d, file on disk during the request: %v", resp.StatusCode, onDisk)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("%d temporary files left after the request: %v", len(entries), entries)
	}
}
