package messages

import "github.com/google/uuid"

// ValidBatchID describes what is wrong with a batch id a client names ("" if nothing): ids are
// the UUIDs POST /v1/batches answers with, in their canonical lowercase form.
func ValidBatchID(id string) string {
	if id == "" {
		return "is required"
	}
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return "must be a batch id as POST /v1/batches returns it: a lowercase UUID like 6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	}
	return ""
}
