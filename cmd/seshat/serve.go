package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/cmd/seshat/demo"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/store"
	"github.com/seshat-go/seshat/watchdog"
)

func newServe() *cobra.Command {
	var (
		cfg        config
		addr       string
		idle, life time.Duration
		maxBytes   int
		maxPerUser int
		memWarn    float64
		maxBody    int64
		sc         serverConfig
		trusted    []string
		proxies    []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the demo app: a view counter with login, logout and a note",
		Long: `Run the demo app, the classic express-session view counter:
  GET /         increments views atomically: "Number of views: N" (HTML for browsers)
  GET /read     the same, changing nothing
  POST /login   form field user: a new session ID bound to that user
  POST /logout  destroys the session
  GET /whoami   the user, or 401
  POST /note    form field text, stored in the session (413 beyond --max-session-bytes)
  GET /metrics  Prometheus metrics; GET /healthz

A client that keeps no cookies sends its session token as
"Authorization: Bearer TOKEN" (the cookie is read first when both come): a
new or regenerated session's token comes back in the Session-Token response
header to a request that brought no cookie.

Form posts from other sites are refused with 403 (cross-site request forgery:
the browser's Sec-Fetch-Site or Origin header names another origin); GET
requests and clients that send neither header pass. --trusted-origin lets a
named origin post.

Sessions live where --store says: memory (the default), a Redis URL
(redis://, rediss://, redis+sentinel://, redis+cluster://) or a PostgreSQL URL
(postgres://, postgresql://), whose schema is migrated on start and whose
expired rows this process removes every minute.

Hostile clients are bounded: a request body beyond --max-body-bytes is refused
with 413 and not read further; a connection must send its headers within
--read-header-timeout and its whole request within --read-timeout; a keep-alive
connection idle for --keep-alive-timeout is closed; at --max-connections, an
idle keep-alive connection is closed to make room, and when there is none, new
connections wait in the kernel's accept queue until one closes.

Traces are exported when OTEL_TRACES_EXPORTER says where: "console" prints
spans to standard output, "otlp" sends them to OTEL_EXPORTER_OTLP_ENDPOINT
(OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc). Each request gets a
server span with a child per session store operation, and per Redis
command, none of which records a session ID, a handle, a user or a value.
Unset or "none": no tracing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sc.validate(); err != nil {
				return err
			}
			if maxBody <= 0 {
				return fmt.Errorf("--max-body-bytes must be positive (got %d): a server without a body limit can be made to read without end", maxBody)
			}
			cfg.sweep = true
			su, err := cfg.build(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer su.close()

			reg := prometheus.NewRegistry()
			col := metrics.New()
			reg.MustRegister(col, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			if sr, ok := su.opts.Store.(store.StatsReporter); ok {
				reg.MustRegister(metrics.NewStoreCollector(sr, time.Second))
				if su.redis != nil {
					go watchdog.Watch(cmd.Context(), sr, watchdog.Options{Threshold: memWarn})
				}
			}
			o := su.opts
			o.MaxBodyBytes = maxBody
			o.IdleTimeout, o.Lifetime, o.MaxSessionBytes, o.MaxSessionsPerUser = idle, life, maxBytes, maxPerUser
			o.Observer = col
			o.ErrorHandler = demo.ErrorHandler(maxBytes)
			o.Carrier = seshat.Carrier{Header: "Authorization"} // cookie first, then Bearer
			o.CrossOrigin = seshat.CrossOrigin{Protect: true, TrustedOrigins: trusted}
			for _, p := range proxies {
				pfx, err := netip.ParsePrefix(p)
				if err != nil {
					return fmt.Errorf("--trusted-proxy %q: want a network such as 10.0.0.0/8: %w", p, err)
				}
				o.Devices.TrustedProxies = append(o.Devices.TrustedProxies, pfx)
			}
			tr, err := startTracing(cmd.Context())
			if err != nil {
				return err
			}
			if tr != nil {
				defer func() {
					// Flush the spans of the last requests, even after a
					// cancelled context.
					ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 5*time.Second)
					defer cancel()
					if err := tr.shutdown(ctx); err != nil {
						slog.Warn("seshat: cannot export the last spans", "err", err)
					}
				}()
				obs, err := tr.observer(su.kind)
				if err != nil {
					return err
				}
				o.Observer = seshat.Observers(col, obs)
				if err := tr.traceRedis(su); err != nil {
					slog.Warn("seshat: Redis commands are not traced", "err", err)
				}
			}
			m, err := seshat.New(o)
			if err != nil {
				return err
			}
			if o.Events {
				go logEvents(cmd.Context(), m)
			}
			handler := demo.Handler(demo.Config{
				Manager: m,
				Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
				Health:  su.health,

				MaxSessionBytes: maxBytes,
				MaxFormBytes:    maxBody,
			})
			if tr != nil {
				handler = tr.handler(handler)
			}
			return listenAndServe(cmd.Context(), addr, handler, sc)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:3000", "address to listen on")
	cmd.Flags().BoolVar(&cfg.localCache, "local-cache", false, "with a Redis store only: serve reads from a client-side cache that Redis invalidates, stale for at most 100 ms")
	cmd.Flags().DurationVar(&idle, "idle-timeout", 30*time.Minute, "end sessions idle this long")
	cmd.Flags().DurationVar(&life, "lifetime", 24*time.Hour, "end sessions this long after login or creation")
	cmd.Flags().IntVar(&maxBytes, "max-session-bytes", 64<<10, "largest session, in bytes of names and values")
	cmd.Flags().IntVar(&maxPerUser, "max-sessions-per-user", 0, "destroy a user's oldest sessions beyond this many (0: no cap)")
	cmd.Flags().Float64Var(&memWarn, "memory-warn-ratio", 0.8, "with a Redis store: log a warning when Redis memory passes this fraction of maxmemory")
	f := cmd.Flags()
	f.StringArrayVar(&proxies, "trusted-proxy", nil, "a network (10.0.0.0/8) of proxies in front of the demo, repeatable: a request from one of them has its client's address (for the sessions page's devices) taken from X-Forwarded-For")
	f.StringArrayVar(&trusted, "trusted-origin", nil, "an origin (https://host[:port]) whose pages may post to the demo, repeatable; others are refused with 403")
	f.Int64Var(&maxBody, "max-body-bytes", 1<<20, "largest request body, in bytes; a larger one is answered 413 and not read further")
	f.DurationVar(&sc.readHeaderTimeout, "read-header-timeout", defaultServer.readHeaderTimeout, "close a connection that has not sent its request headers within this")
	f.DurationVar(&sc.readTimeout, "read-timeout", defaultServer.readTimeout, "close a connection that has not sent its whole request, body included, within this")
	f.DurationVar(&sc.writeTimeout, "write-timeout", defaultServer.writeTimeout, "give up on a response not written within this after the request was read (the demo streams nothing)")
	f.DurationVar(&sc.keepAliveTimeout, "keep-alive-timeout", defaultServer.keepAliveTimeout, "close a keep-alive connection idle this long between requests")
	f.IntVar(&sc.maxHeaderBytes, "max-header-bytes", defaultServer.maxHeaderBytes, "largest request header block, in bytes (431 beyond)")
	f.IntVar(&sc.maxConnections, "max-connections", defaultServer.maxConnections, "most connections open at once; beyond, an idle keep-alive connection is closed or the newcomer waits until one closes (keep it below the open-file limit)")
	cfg.register(cmd)
	return cmd
}

// serverConfig holds the demo server's limits on its connections.
type serverConfig struct {
	readHeaderTimeout, readTimeout, writeTimeout, keepAliveTimeout time.Duration
	maxHeaderBytes, maxConnections                                 int
}

// defaultServer is what the flags default to.
var defaultServer = serverConfig{
	readHeaderTimeout: 10 * time.Second,
	readTimeout:       30 * time.Second,
	writeTimeout:      30 * time.Second,
	keepAliveTimeout:  60 * time.Second,
	maxHeaderBytes:    64 << 10,
	maxConnections:    1000,
}

// validate refuses the values that would switch a limit off: the
// http.Server takes a zero timeout as none.
func (c serverConfig) validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--read-header-timeout", c.readHeaderTimeout}, {"--read-timeout", c.readTimeout},
		{"--write-timeout", c.writeTimeout}, {"--keep-alive-timeout", c.keepAliveTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s must be positive (got %v): zero would mean no timeout", d.flag, d.v)
		}
	}
	if c.maxHeaderBytes <= 0 || c.maxConnections <= 0 {
		return fmt.Errorf("--max-header-bytes and --max-connections must be positive (got %d and %d)", c.maxHeaderBytes, c.maxConnections)
	}
	return nil
}

// newServer is the demo's http.Server with the configured limits.
func newServer(c serverConfig, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.readHeaderTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.keepAliveTimeout,
		MaxHeaderBytes:    c.maxHeaderBytes,
	}
}

func listenAndServe(ctx context.Context, addr string, h http.Handler, c serverConfig) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	limited := newLimitListener(ln, c.maxConnections)
	srv := newServer(c, h)
	srv.ConnState = limited.ConnState
	slog.Info("seshat demo listening", "url", fmt.Sprintf("http://%s/", ln.Addr()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logEvents logs every session lifecycle event of every instance (--events)
// until ctx ends. The user is the store's keyed hash of the user ID.
func logEvents(ctx context.Context, m *seshat.Manager) {
	err := m.Listen(ctx, func(e seshat.LifecycleEvent) {
		slog.Info("seshat: session event", "kind", e.Kind, "reason", e.Reason, "handle", e.Handle, "user_key", e.User)
	}, 10*time.Second)
	if err != nil && ctx.Err() == nil {
		slog.Warn("seshat: cannot follow session events", "err", err)
	}
}
