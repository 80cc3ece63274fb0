package storetest

import "github.com/forecastd/forecastd/store"

// Relay is a store's event subscription in as a test's wrapper of the store hands it on: each
// event for which pass reports true (pass may wait, to hold an event back), until in closes.
func Relay(in <-chan store.Event, pass func(store.Event) bool) <-chan store.Event {
	out := make(chan store.Event)
	go func() {
		defer close(out)
		for ev := range in {
			if pass(ev) {
				out <- ev
			}
		}
	}()
	return out
}
