package seshat_test

import (
	"context"
	"fmt"
	"time"

	"github.com/seshat-go/seshat"
	"github.com/seshat-go/seshat/memstore"
)

// Lifecycle events, to keep an audit log or a list of a user's devices:
// with Options.Events on a store that keeps an event log (memstore within
// one process; redisstore across every instance), Listen reports each
// session created, regenerated at login and destroyed at logout or by a
// revocation, and, from its periodic sweep, each session of a user that
// expired.
func ExampleManager_Listen() {
	m, err := seshat.New(seshat.Options{Secrets: secret, Store: memstore.New(), Events: true})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan seshat.LifecycleEvent, 16)
	listening := make(chan error, 1)
	go func() {
		listening <- m.Listen(ctx, func(e seshat.LifecycleEvent) { events <- e }, time.Minute)
	}()

	// Listen reports what is published while it runs. An application
	// starts it with the server; here, sessions opened and dropped until
	// one is reported show that it runs.
	probes := map[string]bool{}
	for ready := false; !ready; {
		probe := m.Open(ctx, "")
		probe.Set("probe", true)
		probe.Commit(nil)
		probes[probe.Handle()] = true
		select {
		case <-events:
			ready = true
		case <-time.After(10 * time.Millisecond):
		}
	}

	// A visit, a login, a logout.
	s := m.Open(ctx, "")
	s.Set("cart", 3)
	s.Commit(nil)
	first := s.Handle()
	s = m.Open(ctx, s.Token())
	s.Regenerate()
	s.SetUser("alice")
	s.Commit(nil)
	second := s.Handle()
	s = m.Open(ctx, s.Token())
	if user, _ := s.User(); user != "" { // read: the event then names the user
		s.Destroy()
	}

	// Events name a user as the store keeps it: a keyed hash of the ID.
	alice := m.UserKey("alice")
	for n := 0; n < 3; {
		e := <-events
		if probes[e.Handle] {
			continue // a probe reported late
		}
		n++
		switch e.Handle {
		case first:
			fmt.Println(e.Kind, "(the visit)")
		case second:
			line := string(e.Kind)
			if e.Reason != "" {
				line += " (" + string(e.Reason) + ")"
			}
			if e.User == alice {
				line += ", user alice"
			}
			if e.Previous == first {
				line += ", from the visit's session"
			}
			fmt.Println(line)
		}
	}
	cancel()
	fmt.Println("Listen returned:", <-listening)
	// Output:
	// created (the visit)
	// regenerated, user alice, from the visit's session
	// destroyed (logout), user alice
	// Listen returned: <nil>
}
