// Package integration runs the whole service against the real RabbitMQ and Redis on this
// machine: a gateway and several processors, each with its own broker connection and watermill
// router, as they run in production. The tests skip when the services are absent, unless
// CI=true, where they fail.
package integration
