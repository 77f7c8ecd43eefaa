package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/testhttp"
	"github.com/seshat-go/seshat/redisstore/redistest"
)

// runCommandEnv makes the test binary run the command itself, for the
// tests that need it in a process of its own (its standard output, its
// environment, its signals).
const runCommandEnv = "SESHAT_TEST_RUN_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(runCommandEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// consoleSpan is what the console exporter prints of a span.
type consoleSpan struct {
	Name        string
	SpanKind    int
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s consoleSpan) attr(key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

// `OTEL_TRACES_EXPORTER=console seshat serve --store redis://…` prints, for
// a GET /, a server span with a child session span, and no span holds a
// session ID, a cookie, a handle, the user or a value.
func TestServeTracesToConsole(t *testing.T) {
	srv := redistest.Start(t)
	const secret = "trace-secret-0123456789abcdef0123"
	const user, note = "traced.user@example.org", "a-note-no-trace-may-hold"
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	cmd := exec.Command(os.Args[0], "serve", "--addr", addr, "--store", srv.URL())
	cmd.Env = append(os.Environ(), runCommandEnv+"=1", "OTEL_TRACES_EXPORTER=console",
		"SESHAT_SECRETS="+secret, "SESHAT_STORE=", "REDIS_URL=", "OTEL_SERVICE_NAME=seshat-test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	web := testhttp.New(t, base)
	_, body, cookie := web.Do("GET", "/", "", nil)
	if body != "Number of views: 1\n" || cookie == "" {
		t.Fatalf("GET /: %q, cookie %q", body, cookie)
	}
	_, _, cookie2 := web.Do("POST", "/login", cookie, url.Values{"user": {user}})
	web.Do("POST", "/note", cookie2, url.Values{"text": {note}})

	// SIGTERM: the server shuts down and the last spans are flushed.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		exited <- err
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	exited <- nil

	var spans []consoleSpan
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	for {
		var s consoleSpan
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("standard output is not the console exporter's spans: %v\n%s", err, stdout.String())
		}
		spans = append(spans, s)
	}

	// GET /'s server span and its session span: the view counter's first
	// request creates the session.
	var server *consoleSpan
	for i, s := range spans {
		if s.SpanKind == 2 && s.Name == "GET" && s.attr("url.path") == "/" {
			server = &spans[i]
		}
	}
	if server == nil {
		t.Fatalf("no server span for GET / among %d spans:\n%s", len(spans), stdout.String())
	}
	var session *consoleSpan
	for i, s := range spans {
		if s.Parent.SpanID == server.SpanContext.SpanID && strings.HasPrefix(s.Name, "seshat.") {
			session = &spans[i]
		}
	}
	switch {
	case session == nil:
		t.Fatalf("no session span is a child of GET /'s server span %s:\n%s", server.SpanContext.SpanID, stdout.String())
	case session.Parent.TraceID != server.SpanContext.TraceID:
		t.Errorf("the session span is in trace %s, the server span in %s", session.Parent.TraceID, server.SpanContext.TraceID)
	case session.Name != "seshat.create" || session.attr("seshat.operation") != "create" ||
		session.attr("seshat.store") != "redis" || session.attr("seshat.result") != "ok":
		t.Errorf("the session span: %+v; want seshat.create on redis, ok", *session)
	}
	redisUnder := map[string]bool{} // session spans with a Redis command under them
	for _, s := range spans {
		redisUnder[s.Parent.SpanID] = redisUnder[s.Parent.SpanID] || !strings.HasPrefix(s.Name, "seshat.") && s.SpanKind == 3
	}
	if !redisUnder[session.SpanContext.SpanID] {
		t.Errorf("no Redis command span under the session span: the command does not trace Redis")
	}

	// Nothing anywhere in the output names a session or holds its data.
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, c := range []string{cookie, cookie2} {
		id, _, _ := strings.Cut(c, ".")
		handle, ok := m.HandleOf(c)
		if !ok {
			t.Fatalf("cookie %q does not verify with the secret", c)
		}
		for what, v := range map[string]string{"cookie": c, "session ID": id, "handle": handle} {
			if strings.Contains(out, v) {
				t.Errorf("the spans hold a %s, %q", what, v)
			}
		}
	}
	for what, v := range map[string]string{"user": user, "note": note, "secret": secret} {
		if strings.Contains(out, v) {
			t.Errorf("the spans hold the %s, %q", what, v)
		}
	}
	if !strings.Contains(out, "seshat-test") {
		t.Errorf("OTEL_SERVICE_NAME is not the spans' service.name")
	}
}

// Without OTEL_TRACES_EXPORTER, serve traces nothing (the exporter
// package would default to OTLP) and prints nothing on standard output.
func TestServeWithoutTracing(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	tr, err := startTracing(t.Context())
	if tr != nil || err != nil {
		t.Fatalf("startTracing with OTEL_TRACES_EXPORTER unset: %v, %v; want no tracing", tr, err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if tr, err := startTracing(t.Context()); tr != nil || err != nil {
		t.Fatalf("startTracing with OTEL_TRACES_EXPORTER=none: %v, %v; want no tracing", tr, err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
	if _, err := startTracing(t.Context()); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER") {
		t.Fatalf("startTracing with an unknown exporter: %v; want an error naming OTEL_TRACES_EXPORTER", err)
	}
}
