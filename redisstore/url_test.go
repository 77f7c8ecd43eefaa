package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/seshat-go/seshat/redisstore"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		addrs   []string
		master  string
		cluster bool
		db      int
		user    string
		pass    string
		tls     bool
		pool    int
	}{
		{url: "redis://127.0.0.1:6379/2", addrs: []string{"127.0.0.1:6379"}, db: 2},
		{url: "rediss://u:p@127.0.0.1:6380?pool_size=7", addrs: []string{"127.0.0.1:6380"}, user: "u", pass: "p", tls: true, pool: 7},
		{url: "redis+sentinel://:secret@127.0.0.1:26379,127.0.0.1:26380/mymaster/1", addrs: []string{"127.0.0.1:26379", "127.0.0.1:26380"}, master: "mymaster", db: 1, pass: "secret"},
		{url: "redis+cluster://127.0.0.1:7000,127.0.0.1:7001", addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}, cluster: true},
		{url: "redis+cluster://[::1]:7000", addrs: []string{"[::1]:7000"}, cluster: true},
	}
	for _, tt := range tests {
		o, err := redisstore.ParseURL(tt.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.url, err)
			continue
		}
		if fmt.Sprint(o.Addrs) != fmt.Sprint(tt.addrs) || o.MasterName != tt.master || o.IsClusterMode != tt.cluster ||
			o.DB != tt.db || o.Username != tt.user || o.Password != tt.pass || (o.TLSConfig != nil) != tt.tls ||
			(tt.pool != 0 && o.PoolSize != tt.pool) {
			t.Errorf("ParseURL(%q) = %+v", tt.url, o)
		}
		if !o.ContextTimeoutEnabled || o.ReadTimeout != redisstore.DefaultReadTimeout || o.DialTimeout != redisstore.DefaultDialTimeout {
			t.Errorf("ParseURL(%q): timeouts not bounded: %+v", tt.url, o)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:6379", "http://x:1", "redis+foo://x:1", "redis://a:1,b:2", "redis+sentinel://a:1",
		"redis+cluster://a:1/3", "redis://x:1?nonsense=1", "redis+cluster://a:notaport"} {
		if _, err := redisstore.ParseURL(bad); !errors.Is(err, redisstore.ErrURL) {
			t.Errorf("ParseURL(%q) = %v; want ErrURL", bad, err)
		}
	}
	if _, err := redisstore.ParseURL("redis://user:hunter2@x:1?nonsense=1"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}
