package auth

import (
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader("# team tokens\n\nread  aaaaaaaaaaaaaaaa\nwrite bbbbbbbbbbbbbbbb  \n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{{Secret: "aaaaaaaaaaaaaaaa", Scope: ScopeRead}, {Secret: "bbbbbbbbbbbbbbbb", Scope: ScopeWrite}}
	if len(tokens) != 2 || tokens[0] != want[0] || tokens[1] != want[1] {
		t.Fatalf("tokens = %+v, want %+v", tokens, want)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"empty", "# nothing\n", "no tokens"},
		{"unknown scope", "admin aaaaaaaaaaaaaaaa\n", `line 1: scope "admin"`},
		{"short token", "read short\n", "line 1: token is 5 characters"},
		{"missing token", "\nread\n", "line 2: want"},
		{"extra field", "read aaaaaaaaaaaaaaaa x\n", "line 1: want"},
		{"duplicate", "read aaaaaaaaaaaaaaaa\nwrite aaaaaaaaaaaaaaaa\n", "line 2: token listed twice"},
		{"non-ASCII", "read aaaaaaaaaaaaaaaaé\n", "line 1: token has a character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
