#!/bin/sh
# Prints the RabbitMQ password_hash (rabbit_password_hashing_sha256) of the password given as $1:
# base64 of a random 4-byte salt followed by SHA-256(salt ‖ password). Needs only openssl.
# On RabbitMQ 3.13 and later, `rabbitmqctl hash_password <password>` prints the same kind of hash.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 PASSWORD" >&2; exit 2; }
salt=$(mktemp)
trap 'rm -f "$salt"' EXIT
openssl rand 4 >"$salt"
{ cat "$salt"; printf '%s' "$1"; } | openssl dgst -sha256 -binary | cat "$salt" - | openssl base64 -A
echo
