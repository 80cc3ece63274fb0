package gateway

// HubSessions reports how many sessions the hub still holds, for tests of session lifetimes.
func HubSessions(g *Gateway) int {
	g.hub.mu.Lock()
	defer g.hub.mu.Unlock()
	return len(g.hub.sessions)
}
