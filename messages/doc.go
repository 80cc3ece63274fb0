// Package messages is the wire contract between the gateway and the processors: the JSend
// envelope, the command, reply and event types, the topics they travel on, and validation of
// client input, and the codes failures are told in (Code, Failure), which the gateway alone
// turns into HTTP statuses. It does no I/O.
//
// Topics map to RabbitMQ like this (see package broker and deploy/rabbitmq/definitions.json):
//
//	topic        exchange            routing key   queue
//	fit          forecastd.commands  fit           forecastd.fit       (durable quorum, DLX)
//	forecast     forecastd.commands  forecast      forecastd.forecast  (durable quorum, DLX)
//	batch        forecastd.commands  batch         forecastd.batch     (durable quorum, DLX)
//	reply.<gw>   forecastd.replies   <gw>          forecastd.replies.<gw> (transient, per gateway)
//	dead         forecastd.dlx       dead          forecastd.dead      (also every dead.<topic>)
//	dead-lettered forecastd.dlx      dead.<topic>  forecastd.dead-lettered (what RabbitMQ dead-letters; the processors answer it)
package messages
