package gateway

// HubSessions reports how many sessions the hub still holds, for tests of session lifetimes.
func HubSessions(g *Gateway) int { return g.hub.Sessions() }

// CommandStreamEvents are the event names a command's SSE stream sends.
var CommandStreamEvents = commandStreamEvents
