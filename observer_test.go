package seshat_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
	"github.com/seshat-go/seshat/store"
)

// spanKey carries the current span's name in a context, as a tracer's
// context carries its span.
type spanKey struct{}

func spanOf(ctx context.Context) string {
	s, _ := ctx.Value(spanKey{}).(string)
	return s
}

// span is what spans records of one Start and its end.
type span struct {
	name, parent string
	start        seshat.Event
	end          []seshat.Event // exactly one once the operation ended
}

// spans is a SpanObserver that names each span after its operation and a
// sequence number, and records who started what under which parent.
type spans struct {
	mu       sync.Mutex
	spans    []*span
	observed []seshat.Event
}

func (o *spans) Observe(e seshat.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.observed = append(o.observed, e)
}

func (o *spans) Start(ctx context.Context, e seshat.Event) (context.Context, func(seshat.Event)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	sp := &span{name: fmt.Sprintf("%s#%d", e.Op, len(o.spans)), parent: spanOf(ctx), start: e}
	o.spans = append(o.spans, sp)
	return context.WithValue(ctx, spanKey{}, sp.name), func(e seshat.Event) {
		o.mu.Lock()
		defer o.mu.Unlock()
		sp.end = append(sp.end, e)
	}
}

func (o *spans) byName() map[string]*span {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]*span{}
	for _, s := range o.spans {
		m[s.name] = s
	}
	return m
}

// spanStore is a memstore that records the span each call's context
// carries: what a store client's tracer would take as its parent.
type spanStore struct {
	*memstore.Store
	mu    sync.Mutex
	calls []string // "method under span"
}

func (s *spanStore) saw(ctx context.Context, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method+" under "+spanOf(ctx))
}

func (s *spanStore) Load(ctx context.Context, key string, o store.LoadOptions) (*store.Record, error) {
	s.saw(ctx, "Load")
	return s.Store.Load(ctx, key, o)
}

func (s *spanStore) Create(ctx context.Context, key string, rec *store.Record) error {
	s.saw(ctx, "Create")
	return s.Store.Create(ctx, key, rec)
}

func (s *spanStore) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	s.saw(ctx, "Commit")
	return s.Store.Commit(ctx, key, d)
}

func (s *spanStore) Destroy(ctx context.Context, key string) error {
	s.saw(ctx, "Destroy")
	return s.Store.Destroy(ctx, key)
}

func (s *spanStore) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	s.saw(ctx, "Take")
	return s.Store.Take(ctx, key, now)
}

func (s *spanStore) UserSessions(ctx context.Context, user string, now time.Time) ([]store.SessionInfo, error) {
	s.saw(ctx, "UserSessions")
	return s.Store.UserSessions(ctx, user, now)
}

func (s *spanStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func TestSpanObserver(t *testing.T) {
	obs := &spans{}
	st := &spanStore{Store: memstore.New()}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	var hook func(*seshat.Session) // runs inside the handler, if set
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.Session(r)
		switch r.URL.Path {
		case "/login":
			if err := s.Regenerate(); err != nil {
				t.Error(err)
			}
			s.SetUser("ann")
		case "/update":
			hook(s)
		default:
			if _, err := s.Incr("views", 1); err != nil {
				t.Error(err)
			}
		}
	}))
	// The request's span, as otelhttp would start it around the handler.
	traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), spanKey{}, "request")))
	})
	serve := func(path, cookie string) string {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		traced.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if c := rec.Result().Cookies(); len(c) > 0 {
			return c[0].Name + "=" + c[0].Value
		}
		return cookie
	}

	// checkCalls: every store call ran under a span of a store operation
	// (the context Start returned), started as a child of wantParent's
	// span, with the operation's name.
	checkCalls := func(step string, want []string, wantParent string) {
		t.Helper()
		calls := st.take()
		spans := obs.byName()
		var got []string
		for _, c := range calls {
			method, name, _ := strings.Cut(c, " under ")
			sp := spans[name]
			if sp == nil {
				t.Errorf("%s: the store's %s ran under %q, not under a span the observer started: the store client's tracer would lose its parent", step, method, name)
				continue
			}
			if sp.start.Kind != seshat.EventStoreOp {
				t.Errorf("%s: %s ran under a span of kind %v", step, method, sp.start.Kind)
			}
			if !strings.HasPrefix(sp.parent, wantParent) {
				t.Errorf("%s: the span of %s is a child of %q; want %q", step, method, sp.parent, wantParent)
			}
			got = append(got, method+":"+sp.start.Op)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: store calls %v; want %v", step, got, want)
		}
	}

	cookie := serve("/", "")
	checkCalls("new session", []string{"Create:create"}, "request")
	cookie = serve("/", cookie)
	checkCalls("increment", []string{"Commit:incr"}, "request")
	cookie = serve("/login", cookie)
	checkCalls("login", []string{"Load:load", "Take:take", "Create:create"}, "request")

	// An Update that loses a race: the commit's second attempt says so.
	first := true
	hook = func(s *seshat.Session) {
		handle := s.Handle() // fn must not call the session's methods
		_, err := seshat.Update(s, "views", func(n int) (int, error) {
			if first { // another request changes views meanwhile
				first = false
				if err := m.Edit(context.Background(), handle, func(o *seshat.Session) error { return o.Set("views", 10) }); err != nil {
					t.Error(err)
				}
			}
			return n + 1, nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	serve("/update", cookie)
	var attempts []string
	for _, sp := range obs.byName() {
		if sp.start.Op == "update" && len(sp.end) == 1 {
			attempts = append(attempts, fmt.Sprintf("retries=%d/%d err=%v", sp.start.Retries, sp.end[0].Retries, errors.Is(sp.end[0].Err, store.ErrConflict)))
		}
	}
	if want := "[retries=0/0 err=true retries=1/1 err=false]"; fmt.Sprint(sortStrings(attempts)) != want {
		t.Errorf("update attempts: %v; want %s", attempts, want)
	}
	st.take()

	// An administrative call: one span, under the caller's, and the
	// store operations it makes under it.
	ctx := context.WithValue(context.Background(), spanKey{}, "admin")
	n, err := m.RevokeUser(ctx, "ann")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUser: %d, %v", n, err)
	}
	var revoke *span
	for _, sp := range obs.byName() {
		if sp.start.Kind == seshat.EventAdmin {
			if sp.start.Op == "revoke_user" {
				revoke = sp
			}
			if sp.start.Op != "edit" && sp.start.Op != "revoke_user" {
				t.Errorf("an administrative span %q: RevokeUser makes one, and Edit one", sp.name)
			}
		}
	}
	if revoke == nil || revoke.parent != "admin" {
		t.Fatalf("RevokeUser's span: %+v; want one under the caller's span", revoke)
	}
	checkCalls("RevokeUser", []string{"UserSessions:user_sessions", "Destroy:destroy", "UserSessions:user_sessions"}, revoke.name)

	// Each span ended once, with its own operation; the store operations
	// and administrative calls went to end, not also to Observe.
	for _, sp := range obs.byName() {
		if len(sp.end) != 1 || sp.end[0].Op != sp.start.Op || sp.end[0].Kind != sp.start.Kind {
			t.Errorf("span %s started as %+v ended %+v; want one end of the same operation", sp.name, sp.start, sp.end)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	kinds := map[seshat.EventKind]int{}
	for _, e := range obs.observed {
		kinds[e.Kind]++
	}
	if kinds[seshat.EventStoreOp] != 0 || kinds[seshat.EventAdmin] != 0 {
		t.Errorf("Observe got %d store operations and %d administrative calls that end reported", kinds[seshat.EventStoreOp], kinds[seshat.EventAdmin])
	}
	if kinds[seshat.EventCreated] != 2 || kinds[seshat.EventConflict] != 1 || kinds[seshat.EventDestroyed] != 1 {
		t.Errorf("Observe got %v; want the session events (2 created, 1 conflict, 1 destroyed)", kinds)
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// An Observer without Start hears of administrative calls through Observe.
func TestObserverAdminCalls(t *testing.T) {
	obs := &events{}
	m, err := seshat.New(seshat.Options{Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(context.Background(), "no-such-handle"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Inspect(context.Background(), "no-such-handle"); !errors.Is(err, seshat.ErrNoSuchSession) {
		t.Fatalf("Inspect: %v", err)
	}
	var got []string
	for _, e := range obs.all() {
		got = append(got, fmt.Sprintf("%v:%s:%v", e.Kind, e.Op, e.Err != nil))
	}
	want := "[store_op:destroy:false destroyed::false admin:revoke:false store_op:load:true admin:inspect:true]"
	if fmt.Sprint(got) != want {
		t.Errorf("events %v; want %s", got, want)
	}
}

type events struct {
	mu sync.Mutex
	e  []seshat.Event
}

func (o *events) Observe(e seshat.Event) { o.mu.Lock(); o.e = append(o.e, e); o.mu.Unlock() }
func (o *events) all() []seshat.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e
}

// Observers tells each observer: a SpanObserver through Start and end, a
// plain one through Observe, and the store gets the span's context.
func TestObservers(t *testing.T) {
	plain, traced := &events{}, &spans{}
	if seshat.Observers(nil, plain) != seshat.Observer(plain) {
		t.Error("Observers of one observer is not that observer")
	}
	if _, ok := seshat.Observers(plain, &events{}).(seshat.SpanObserver); ok {
		t.Error("Observers of plain observers is a SpanObserver: it would cost a request a closure for nothing")
	}
	st := &spanStore{Store: memstore.New()}
	m, err := seshat.New(seshat.Options{Store: st, Secrets: [][]byte{[]byte("a secret of at least thirty-two bytes")},
		Observer: seshat.Observers(plain, traced)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(context.Background(), "no-such-handle"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range plain.all() {
		got = append(got, fmt.Sprintf("%v:%s", e.Kind, e.Op))
	}
	if want := "[store_op:destroy destroyed: admin:revoke]"; fmt.Sprint(got) != want {
		t.Errorf("the plain observer got %v; want %s", got, want)
	}
	sp := traced.byName()
	if len(sp) != 2 || sp["destroy#1"] == nil || sp["destroy#1"].parent != "revoke#0" || len(sp["destroy#1"].end) != 1 || len(sp["revoke#0"].end) != 1 {
		t.Errorf("the span observer: %v; want revoke#0 and destroy#1 under it, each ended once", sp)
	}
	if calls := st.take(); fmt.Sprint(calls) != "[Destroy under destroy#1]" {
		t.Errorf("store calls %v; want Destroy under the destroy span", calls)
	}
}
