package messages

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ReplyHeader is the message metadata (an AMQP header) that carries a reply's fields other
// than its result, whose JSON is the message's payload as it is: the gateway decodes the few
// fields it routes by and passes the result on without reading it (decoding it, only to copy
// it into the client's answer, was a tenth of a gateway's CPU under load). A message without
// the header is a reply of an earlier release: all of it in the payload.
const ReplyHeader = "x-forecastd-reply"

// EncodeReply is r as a reply message's header (ReplyHeader) and payload. r.Result must be
// JSON that json.Marshal made, as for MarshalWithRaw.
func EncodeReply(r Reply) (header string, payload []byte, err error) {
	payload, r.Result = r.Result, nil
	head, err := json.Marshal(r)
	if err != nil {
		return "", nil, err
	}
	return string(head), payload, nil
}

// DecodeReply is the reply of a message with header (ReplyHeader's value) and payload.
func DecodeReply(header string, payload []byte) (Reply, error) {
	var r Reply
	if header == "" {
		if err := json.Unmarshal(payload, &r); err != nil {
			return Reply{}, fmt.Errorf("reply: %w", err)
		}
		return r, nil
	}
	if err := json.Unmarshal([]byte(header), &r); err != nil {
		return Reply{}, fmt.Errorf("reply header: %w", err)
	}
	if len(r.Result) > 0 {
		return Reply{}, errors.New("reply header: a result belongs in the payload")
	}
	if len(payload) > 0 {
		r.Result = payload
	}
	return r, nil
}
