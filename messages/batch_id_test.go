package messages

import "testing"

func TestValidBatchID(t *testing.T) {
	for id, ok := range map[string]bool{
		NewBatchID():                             true,
		"3n4xkq7rzb2m5hta":                       true,
		"3n4xkq7rzb2m5ht":                        false, // one short
		"3n4xkq7rzb2m5htaa":                      false,
		"3n4xkq7rzb2m5ht1":                       false, // 1 is not base32
		"3N4XKQ7RZB2M5HTA":                       false,
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8":   true, // accepted by an earlier version
		"":                                       false,
		"6BA7B810-9DAD-11D1-80B4-00C04FD430C8":   false, // not the form batches are named by
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}": false,
		"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8": false,
		"store-1":                             false,
		"6ba7b810-9dad-11d1-80b4-00c04fd430c": false,
	} {
		if got := ValidBatchID(id) == ""; got != ok {
			t.Errorf("ValidBatchID(%q) accepts: %v, want %v", id, got, ok)
		}
	}
}
