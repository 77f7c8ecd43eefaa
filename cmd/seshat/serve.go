package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/internal/demo"
	"github.com/seshat-go/seshat/metrics"
	"github.com/seshat-go/seshat/store"
)

func newServe() *cobra.Command {
	var (
		cfg        config
		addr       string
		idle, life time.Duration
		maxBytes   int
		maxPerUser int
		memWarn    float64
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
  GET /metrics  Prometheus metrics; GET /healthz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			su, err := cfg.build(cmd.ErrOrStderr())
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
					go seshat.WatchMemory(cmd.Context(), sr, seshat.WatchOptions{Threshold: memWarn})
				}
			}
			o := su.opts
			o.IdleTimeout, o.Lifetime, o.MaxSessionBytes, o.MaxSessionsPerUser = idle, life, maxBytes, maxPerUser
			o.Observer = col
			m, err := seshat.New(o)
			if err != nil {
				return err
			}
			handler := demo.Handler(demo.Config{
				Manager: m,
				Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
				Health:  su.health,

				MaxSessionBytes: maxBytes,
			})
			return listenAndServe(cmd.Context(), addr, handler)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:3000", "address to listen on")
	cmd.Flags().BoolVar(&cfg.localCache, "local-cache", false, "with --redis: serve reads from a client-side cache that Redis invalidates, stale for at most 100 ms")
	cmd.Flags().DurationVar(&idle, "idle-timeout", 30*time.Minute, "end sessions idle this long")
	cmd.Flags().DurationVar(&life, "lifetime", 24*time.Hour, "end sessions this long after login or creation")
	cmd.Flags().IntVar(&maxBytes, "max-session-bytes", 64<<10, "largest session, in bytes of names and values")
	cmd.Flags().IntVar(&maxPerUser, "max-sessions-per-user", 0, "destroy a user's oldest sessions beyond this many (0: no cap)")
	cmd.Flags().Float64Var(&memWarn, "memory-warn-ratio", 0.8, "log a warning when Redis memory passes this fraction of maxmemory")
	cfg.register(cmd)
	return cmd
}

func listenAndServe(ctx context.Context, addr string, h http.Handler) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("seshat demo listening", "url", fmt.Sprintf("http://%s/", ln.Addr()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
