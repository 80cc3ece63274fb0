// Package deploy holds no code: it is where the tests of the deployment files live (the RabbitMQ
// definitions and config, the Redis config, docker-compose.yml and its .env), so that a broken
// deployment fails `go test` instead of a first `docker compose up`.
package deploy
