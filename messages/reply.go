package messages

import (
	"bytes"
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

// maxReplyHeader bounds the header a reply is sent with. AMQP carries a message's properties,
// headers included, in one frame of at most the connection's frame_max, which RabbitMQ lets an
// operator set as low as 4 KiB (a larger header would close the connection); a reply whose
// fields take more than half of that (a failure with a long list of problems) goes in the
// earlier form, all in its payload, which every gateway reads. Most headers are 100–300 bytes.
const maxReplyHeader = 2 << 10

// EncodeReply is r as a reply message's header (ReplyHeader, empty when r goes whole in the
// payload) and payload. r.Result must be a JSON object that json.Marshal made.
func EncodeReply(r Reply) (header string, payload []byte, err error) {
	result := r.Result
	r.Result = nil
	head, err := json.Marshal(r)
	if err != nil {
		return "", nil, err
	}
	if len(head) > maxReplyHeader {
		r.Result = result
		payload, err = json.Marshal(r)
		return "", payload, err
	}
	return string(head), result, nil
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
		// The result is passed on to clients unread: the processors that send it are trusted
		// to have made it with json.Marshal, and only its ends are checked, which a cut or
		// mistaken payload fails. It shares its bytes with payload.
		if !isObject(payload) {
			return Reply{}, errors.New("reply: the result is not a JSON object")
		}
		r.Result = payload
	}
	return r, nil
}

// isObject reports whether b, spaces aside, begins and ends as a JSON object does.
func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}
