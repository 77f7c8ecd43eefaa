package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Default client settings, chosen so that a dead Redis fails a request in
// well under a second instead of hanging it. A URL's query parameters
// (dial_timeout, read_timeout, write_timeout, pool_timeout, pool_size,
// max_retries, … as go-redis names them) override them.
const (
	DefaultDialTimeout  = 300 * time.Millisecond
	DefaultReadTimeout  = 300 * time.Millisecond
	DefaultWriteTimeout = 300 * time.Millisecond
	DefaultPoolTimeout  = 300 * time.Millisecond
	DefaultMaxRetries   = 1
	// DefaultDialerRetries: go-redis redials a refused connection 5 times,
	// 100 ms apart, by default, which alone takes half a second.
	DefaultDialerRetries = 1
)

// ErrURL is wrapped by the errors ParseURL returns.
var ErrURL = errors.New("redisstore: invalid Redis URL")

// ParseURL turns a Redis URL into client options:
//
//	redis://[user:pass@]host:port[/db][?options]          standalone
//	rediss://…                                           standalone over TLS
//	redis+sentinel://[user:pass@]host:port,host:port/mastername[/db][?options]
//	redis+cluster://[user:pass@]host:port,host:port[?options]
//
// The +sentinel and +cluster schemes also come as rediss+… for TLS, which
// takes the query parameters tls_ca_file (PEM certificates to verify the
// server with, instead of the system's), tls_cert_file and tls_key_file (a
// client certificate, for tls-auth-clients), and tls_server_name. For
// Sentinel, user and password are the master's; the query parameters
// sentinel_username and sentinel_password authenticate to the sentinels.
// Other query parameters are go-redis's (see redis.ParseURL). Timeouts not
// given default to the bounded values above, and the client honours
// context deadlines.
func ParseURL(raw string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no scheme", ErrURL, redact(raw))
	}
	base, mode, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("%w: scheme %q (want redis, rediss, redis+sentinel or redis+cluster)", ErrURL, scheme)
	}
	if mode != "" && mode != "sentinel" && mode != "cluster" {
		return nil, fmt.Errorf("%w: scheme %q", ErrURL, scheme)
	}

	// Split authority (userinfo@host,host) from path and query.
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostlist := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	var hosts []string
	for _, h := range strings.Split(hostlist, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: no host in %q", ErrURL, redact(raw))
	}
	if mode == "" && len(hosts) > 1 {
		return nil, fmt.Errorf("%w: several hosts need redis+sentinel:// or redis+cluster://", ErrURL)
	}

	path, query, _ := strings.Cut(tail, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrURL, err)
	}
	var master string
	if mode == "sentinel" {
		parts := strings.Split(strings.Trim(path, "/"), "/")
		master, path = parts[0], ""
		if len(parts) > 1 {
			path = "/" + parts[1]
		}
		if master == "" {
			return nil, fmt.Errorf("%w: redis+sentinel:// needs the master name as its path", ErrURL)
		}
	}
	if mode == "cluster" && strings.Trim(path, "/") != "" && strings.Trim(path, "/") != "0" {
		return nil, fmt.Errorf("%w: Redis Cluster has only database 0", ErrURL)
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	tlsParams := map[string]string{}
	for _, p := range []string{"tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name"} {
		if q.Has(p) {
			tlsParams[p] = q.Get(p)
		}
		q.Del(p)
	}
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if len(tlsParams) > 0 && base != "rediss" {
		return nil, fmt.Errorf("%w: TLS parameters need a rediss scheme", ErrURL)
	}

	// Let go-redis parse the rest as a single-host URL.
	single := base + "://" + userinfo + hosts[0] + path
	if enc := q.Encode(); enc != "" {
		single += "?" + enc
	}
	o, err := redis.ParseURL(single)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrURL, err)
	}
	u := &redis.UniversalOptions{
		Addrs:            hosts,
		DB:               o.DB,
		ClientName:       o.ClientName,
		Protocol:         o.Protocol,
		Username:         o.Username,
		Password:         o.Password,
		SentinelUsername: sentinelUser,
		SentinelPassword: sentinelPass,
		MasterName:       master,
		IsClusterMode:    mode == "cluster",
		MaxRetries:       o.MaxRetries,
		MinRetryBackoff:  o.MinRetryBackoff,
		MaxRetryBackoff:  o.MaxRetryBackoff,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.ReadTimeout,
		WriteTimeout:     o.WriteTimeout,
		PoolFIFO:         o.PoolFIFO,
		PoolSize:         o.PoolSize,
		PoolTimeout:      o.PoolTimeout,
		MinIdleConns:     o.MinIdleConns,
		MaxIdleConns:     o.MaxIdleConns,
		MaxActiveConns:   o.MaxActiveConns,
		ConnMaxIdleTime:  o.ConnMaxIdleTime,
		ConnMaxLifetime:  o.ConnMaxLifetime,
		TLSConfig:        o.TLSConfig,

		ContextTimeoutEnabled: true,
		DialerRetries:         DefaultDialerRetries,
	}
	if mode != "" {
		u.Addrs = nil
		for _, h := range hosts {
			if _, _, err := splitHostPort(h); err != nil {
				return nil, fmt.Errorf("%w: host %q: %v", ErrURL, h, err)
			}
			u.Addrs = append(u.Addrs, h)
		}
	} else {
		u.Addrs = []string{o.Addr}
	}
	if u.TLSConfig != nil {
		if err := configureTLS(u.TLSConfig, tlsParams); err != nil {
			return nil, err
		}
	}
	defaults := []struct {
		param string
		set   func()
	}{
		{"dial_timeout", func() { u.DialTimeout = DefaultDialTimeout }},
		{"read_timeout", func() { u.ReadTimeout = DefaultReadTimeout }},
		{"write_timeout", func() { u.WriteTimeout = DefaultWriteTimeout }},
		{"pool_timeout", func() { u.PoolTimeout = DefaultPoolTimeout }},
		{"max_retries", func() { u.MaxRetries = DefaultMaxRetries }},
	}
	for _, d := range defaults {
		if !q.Has(d.param) {
			d.set()
		}
	}
	return u, nil
}

func splitHostPort(h string) (string, int, error) {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.HasSuffix(h, "]") {
		return "", 0, errors.New("missing port")
	}
	port, err := strconv.Atoi(h[i+1:])
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", h[i+1:])
	}
	return h[:i], port, nil
}

// redact hides a URL's password in error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if i := strings.LastIndexByte(rest[:end], '@'); i >= 0 {
		if j := strings.IndexByte(rest[:i], ':'); j >= 0 {
			return scheme + "://" + rest[:j] + ":xxxxx" + rest[i:]
		}
	}
	return raw
}

// DefaultClusterReload is how stale a Cluster client's slot map may get
// before it is reloaded (in the background, with CLUSTER SLOTS). go-redis
// defaults to a minute, and a dead master is not a MOVED: without this, a
// promoted replica's slots stay unreachable until then.
const DefaultClusterReload = time.Second

// NewClient returns a go-redis client for options from ParseURL: a Cluster,
// Sentinel or standalone client, with DefaultClusterReload for a Cluster.
func NewClient(o *redis.UniversalOptions) redis.UniversalClient {
	if o.IsClusterMode && o.MasterName == "" {
		co := o.Cluster()
		co.ClusterStateReloadInterval = DefaultClusterReload
		return redis.NewClusterClient(co)
	}
	return redis.NewUniversalClient(o)
}

// Open returns a Store on a new client for the Redis a URL names (see
// ParseURL). The store owns the client: Close closes it. Open does not
// wait for Redis: a store that is down fails requests until it is back.
func Open(raw string, opts Options) (*Store, error) {
	u, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	c := NewClient(u)
	s, err := New(c, opts)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Close stops the client-side cache (Options.LocalCache), if any, and
// closes the client if the store opened it (Open); a client passed to New
// stays open.
func (s *Store) Close() error {
	if s.cache != nil {
		s.cache.close()
	}
	if s.owned {
		return s.client.Close()
	}
	return nil
}

// configureTLS applies the tls_* query parameters.
func configureTLS(c *tls.Config, p map[string]string) error {
	c.MinVersion = tls.VersionTLS12
	if name, ok := p["tls_server_name"]; ok {
		c.ServerName = name
	}
	if file, ok := p["tls_ca_file"]; ok {
		pem, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%w: tls_ca_file: %v", ErrURL, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: tls_ca_file %s holds no PEM certificate", ErrURL, file)
		}
		c.RootCAs = pool
	}
	certFile, hasCert := p["tls_cert_file"]
	keyFile, hasKey := p["tls_key_file"]
	if hasCert != hasKey {
		return fmt.Errorf("%w: tls_cert_file and tls_key_file go together", ErrURL)
	}
	if hasCert {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("%w: client certificate: %v", ErrURL, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return nil
}
