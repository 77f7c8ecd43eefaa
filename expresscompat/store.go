package expresscompat

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/store"
)

//go:embed scripts/*.lua
var scripts embed.FS

func script(name string) *redis.Script {
	b, err := scripts.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("expresscompat: missing embedded script " + name)
	}
	return redis.NewScript(string(b))
}

var (
	casScript    = script("cas")
	takeScript   = script("take")
	createScript = script("create")
)

// maxAttempts bounds the compare-and-set retries of one commit.
const maxAttempts = 50

// Store is a store.Store over connect-redis's layout: "sess:<id>" holds
// the session as JSON, with a "cookie" object, and expires with it.
type Store struct {
	client redis.UniversalClient
	o      Options
}

var _ store.Store = (*Store)(nil)

// New returns a Store on client, for the Node app's settings o.
func New(client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("expresscompat: nil client")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Store{client: client, o: o}, nil
}

// doc is a session document, fields in their JSON form.
type doc map[string]json.RawMessage

// record turns a document into a Record. pttl is the key's remaining life.
func (s *Store) record(d doc, pttl time.Duration, now time.Time) (*store.Record, error) {
	maxAge := s.o.idleOf(d["cookie"])
	touched := now.Add(pttl - maxAge)
	rec := &store.Record{
		Values:      make(map[string][]byte, len(d)),
		Created:     touched,
		Touched:     touched,
		IdleTimeout: maxAge,
		Deadline:    now.Add(noLifetime),
		Cookie:      d["cookie"],
	}
	for name, raw := range d {
		switch name {
		case "cookie":
			continue
		case s.o.UserField:
			var u string
			if json.Unmarshal(raw, &u) == nil {
				rec.User = u
				continue
			}
		}
		b, err := fromJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("expresscompat: field %q: %w", name, store.ErrCorrupt)
		}
		rec.Values[name] = b
	}
	return rec, nil
}

// fromJSON turns a JSON value into seshat's stored form.
func fromJSON(raw json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return []byte("jnull"), nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return seshat.EncodeValue(n)
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return seshat.EncodeValue(f)
	case string, bool:
		return seshat.EncodeValue(x)
	}
	return append([]byte("j"), raw...), nil
}

// toJSON turns seshat's stored form into a JSON value.
func toJSON(b []byte) (json.RawMessage, error) {
	v, err := seshat.DecodeValue(b)
	if err != nil {
		return nil, fmt.Errorf("expresscompat: a value that JSON cannot hold (encryption is not available in this mode): %w", err)
	}
	return json.Marshal(v)
}

// side is the key beside a session's where seshat keeps what Node must
// not see: the operation ids applied in the last minute (so that a write
// retried after a lost reply applies once) and the moved marker a
// regenerate leaves. Its hash tag is the session key, so it lives in the
// session's Cluster slot, and it does not match connect-redis's
// "<prefix>*" scans.
func (s *Store) side(key string) string { return "{" + s.o.Prefix + key + "}:seshat" }

// opID returns a fresh operation id.
func opID() string { return rand.Text() }

func (s *Store) read(ctx context.Context, key string) (doc, string, time.Duration, error) {
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	var moved *redis.BoolCmd
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, s.o.Prefix+key)
		ttl = p.PTTL(ctx, s.o.Prefix+key)
		moved = p.HExists(ctx, s.side(key), "moved")
		return nil
	})
	if errors.Is(err, redis.Nil) || errors.Is(get.Err(), redis.Nil) {
		if moved.Val() {
			return nil, "", 0, fmt.Errorf("expresscompat: %w", store.ErrMoved)
		}
		return nil, "", 0, fmt.Errorf("expresscompat: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, "", 0, fail(err)
	}
	raw := get.Val()
	var d doc
	if err := json.Unmarshal([]byte(raw), &d); err != nil || d == nil {
		return nil, "", 0, fmt.Errorf("expresscompat: not a session document: %w", store.ErrCorrupt)
	}
	return d, raw, ttl.Val(), nil
}

// Load implements store.Store. A touch, when due, refreshes the key's
// expiry as connect-redis's touch does.
func (s *Store) Load(ctx context.Context, key string, o store.LoadOptions) (*store.Record, error) {
	d, _, pttl, err := s.read(ctx, key)
	if err != nil {
		return nil, err
	}
	rec, err := s.record(d, pttl, o.Now)
	if err != nil {
		return nil, err
	}
	if o.Now.Sub(rec.Touched) >= o.TouchAfter {
		if err := s.client.PExpire(ctx, s.o.Prefix+key, rec.IdleTimeout).Err(); err != nil {
			return nil, fail(err)
		}
		rec.Touched = o.Now
	}
	return rec, nil
}

// document builds the JSON document of a record, with express-session's
// cookie object as a save at now would leave it (see cookieFor), and the
// key's time to live, as connect-redis computes it from that object.
func (s *Store) document(values map[string][]byte, user string, idle time.Duration, now time.Time, base doc) ([]byte, time.Duration, error) {
	d := doc{}
	for k, v := range base {
		d[k] = v
	}
	for k := range d {
		if k != "cookie" && k != s.o.UserField {
			if _, kept := values[k]; !kept {
				delete(d, k)
			}
		}
	}
	for k, v := range values {
		j, err := toJSON(v)
		if err != nil {
			return nil, 0, err
		}
		d[k] = j
	}
	if user == "" {
		delete(d, s.o.UserField)
	} else {
		d[s.o.UserField], _ = json.Marshal(user)
	}
	c := s.o.cookieFor(d["cookie"], idle, now)
	d["cookie"] = c
	body, err := json.Marshal(d)
	return body, s.o.keyTTL(c, now), err
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, rec *store.Record) error {
	body, ttl, err := s.document(rec.Values, rec.User, rec.IdleTimeout, rec.Touched, nil)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		return nil
	}
	n, err := createScript.Run(ctx, s.client, []string{s.o.Prefix + key, s.side(key)}, body, max(ttl.Milliseconds(), 1), opID()).Int()
	if err != nil {
		return fail(err)
	}
	if n != 1 {
		return fmt.Errorf("expresscompat: create: %w", store.ErrExists)
	}
	return nil
}

// Commit implements store.Store: read the document, apply the delta,
// write it back only if nobody (Go or Node) changed it meanwhile; retry
// otherwise.
//
// Each commit carries an operation id that the script records with the
// write: when a reply is lost and the client sends the script again, the
// second run answers "replaced" without writing (an increment counts
// once).
func (s *Store) Commit(ctx context.Context, key string, d *store.Delta) (store.Result, error) {
	op := opID()
	for range maxAttempts {
		cur, raw, pttl, err := s.read(ctx, key)
		if err != nil {
			return store.Result{}, err
		}
		rec, err := s.record(cur, pttl, d.Now)
		if err != nil {
			return store.Result{}, err
		}
		res, err := store.Apply(rec, d)
		if err != nil {
			return res, fmt.Errorf("expresscompat: commit: %w", err)
		}
		body, ttl, err := s.document(rec.Values, rec.User, rec.IdleTimeout, d.Now, cur)
		if err != nil {
			return store.Result{}, err
		}
		out, err := casScript.Run(ctx, s.client, []string{s.o.Prefix + key, s.side(key)}, raw, body, max(ttl.Milliseconds(), 1), op).Slice()
		if err != nil {
			return store.Result{}, fail(err)
		}
		switch n, _ := out[0].(int64); n {
		case 1:
			return res, nil
		case -1:
			return store.Result{}, fmt.Errorf("expresscompat: commit: %w", store.ErrNotFound)
		case -2:
			return store.Result{}, fmt.Errorf("expresscompat: commit: %w", store.ErrMoved)
		}
		// Changed meanwhile (by a Node request, perhaps): read again.
	}
	return store.Result{}, fmt.Errorf("expresscompat: commit: %d attempts: %w", maxAttempts, store.ErrConflict)
}

// Destroy implements store.Store: the session and its side key (a moved
// marker included).
func (s *Store) Destroy(ctx context.Context, key string) error {
	return fail(s.client.Del(ctx, s.o.Prefix+key, s.side(key)).Err())
}

// Take implements store.Store. The moved marker goes to the side key
// (Node would read a marker under the session key as a session); a take
// retried after a lost reply answers the document the first run took.
func (s *Store) Take(ctx context.Context, key string, now time.Time) (*store.Record, error) {
	out, err := takeScript.Run(ctx, s.client, []string{s.o.Prefix + key, s.side(key)}, opID(), store.MovedGrace.Milliseconds()).Slice()
	if err != nil {
		return nil, fail(err)
	}
	switch n, _ := out[0].(int64); n {
	case -1:
		return nil, fmt.Errorf("expresscompat: take: %w", store.ErrNotFound)
	case -2:
		return nil, fmt.Errorf("expresscompat: take: %w", store.ErrMoved)
	}
	raw, _ := out[1].(string)
	var d doc
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return nil, fmt.Errorf("expresscompat: take: %w", store.ErrCorrupt)
	}
	return s.record(d, s.o.idleOf(d["cookie"]), now)
}

func fail(err error) error {
	if err == nil {
		return nil
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return fmt.Errorf("expresscompat: %w", err)
	}
	return fmt.Errorf("expresscompat: %w: %w", store.ErrUnavailable, err)
}
