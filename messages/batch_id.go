package messages

import (
	"crypto/rand"
	"encoding/base32"
	"strings"

	"github.com/google/uuid"
)

// batchIDAlphabet is what batch ids are written in: lowercase base32 (RFC 4648) letters and digits.
const batchIDAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var batchIDEncoding = base32.NewEncoding(batchIDAlphabet).WithPadding(base32.NoPadding)

// NewBatchID is a random batch id: 10 random bytes (80 bits) in BatchIDLength characters,
// shorter than a UUID so that the models of a batch that saves them ({batch_id}.{name}) leave
// their series' names most of a model name's 64 characters.
func NewBatchID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return batchIDEncoding.EncodeToString(b[:])
}

// ValidBatchID describes what is wrong with a batch id a client names ("" if nothing): ids are
// as POST /v1/batches answers with them, BatchIDLength lowercase base32 characters, or the
// lowercase UUIDs of batches accepted by an earlier version.
func ValidBatchID(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) == BatchIDLength && strings.Trim(id, batchIDAlphabet) == "":
		return ""
	}
	if u, err := uuid.Parse(id); err == nil && u.String() == id {
		return ""
	}
	return "must be a batch id as POST /v1/batches returns it, 16 lowercase letters and digits 2–7 like 3n4xkq7rzb2m5hta"
}
