// Package auth is the gateway's bearer-token authentication: the token file, the read and write
// scopes, and the middleware that lets a request through with the scope it needs.
package auth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/forecastd/forecastd/messages"
)

// Scope is what a bearer token allows.
type Scope int

const (
	// ScopeRead reads models, jobs and events, and asks for forecasts.
	ScopeRead Scope = iota + 1
	// ScopeWrite also fits models.
	ScopeWrite
)

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write"
	}
	return "none"
}

// Token is one API token and its scope.
type Token struct {
	Secret string
	Scope  Scope
}

// MinTokenLength is the shortest token accepted, so that tokens cannot be guessed.
const MinTokenLength = 16

// ParseTokens reads a token file: one "<scope> <token>" per line, scope read or write; blank
// lines and lines starting with # are ignored. Tokens are at least MinTokenLength printable
// characters without spaces.
func ParseTokens(r io.Reader) ([]Token, error) {
	var out []Token
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"<scope> <token>\", got %d fields", line, len(fields))
		}
		var scope Scope
		switch fields[0] {
		case "read":
			scope = ScopeRead
		case "write":
			scope = ScopeWrite
		default:
			return nil, fmt.Errorf("line %d: scope %q, want read or write", line, fields[0])
		}
		secret := fields[1]
		if len(secret) < MinTokenLength {
			return nil, fmt.Errorf("line %d: token is %d characters, want at least %d", line, len(secret), MinTokenLength)
		}
		for _, c := range secret {
			if c < '!' || c > '~' {
				return nil, fmt.Errorf("line %d: token has a character outside printable ASCII", line)
			}
		}
		if seen[secret] {
			return nil, fmt.Errorf("line %d: token listed twice", line)
		}
		seen[secret] = true
		out = append(out, Token{Secret: secret, Scope: scope})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no tokens in the file")
	}
	return out, nil
}

// Tokens finds a token's scope by its SHA-256, so a lookup does not take a time that depends
// on how much of a guess is right. Nil (no tokens) turns authentication off.
type Tokens map[[sha256.Size]byte]Scope

// NewTokens indexes tokens; none gives nil.
func NewTokens(tokens []Token) Tokens {
	if len(tokens) == 0 {
		return nil
	}
	set := make(Tokens, len(tokens))
	for _, t := range tokens {
		set[sha256.Sum256([]byte(t.Secret))] = t.Scope
	}
	return set
}

// A request without a valid token is unauthenticated (401); one whose token lacks the scope,
// forbidden (403).
var (
	errNoToken  = messages.FailField(messages.CodeUnauthenticated, "authorization", "is missing; send the header Authorization: Bearer TOKEN")
	errNoBearer = messages.FailField(messages.CodeUnauthenticated, "authorization", "holds no bearer token; send the header Authorization: Bearer TOKEN")
	errBadToken = messages.FailField(messages.CodeUnauthenticated, "authorization", "token is not valid")
)

// ErrScope is the failure of a request whose token has scope have where need is needed.
func ErrScope(have, need Scope) error {
	return messages.FailField(messages.CodeForbidden, "authorization", "token has scope %s; this needs %s", have, need)
}

type scopeKey struct{}

// ScopeOf is the scope a request was authorized with: everything when authentication is off,
// nothing for a request that did not pass Require.
func (t Tokens) ScopeOf(ctx context.Context) Scope {
	if t == nil {
		return ScopeWrite
	}
	s, _ := ctx.Value(scopeKey{}).(Scope)
	return s
}

// authenticate finds the request's bearer token: the Authorization header, or for the
// streaming endpoints that browsers open without headers (EventSource, WebSocket) an
// access_token query parameter. A header of another scheme (Basic credentials a browser
// repeats behind a proxy, say) counts as no token.
func (t Tokens) authenticate(r *http.Request, queryToken bool) (Scope, error) {
	secret := ""
	if scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		secret = strings.TrimSpace(value)
	}
	if secret == "" && queryToken {
		secret = r.URL.Query().Get("access_token")
	}
	switch {
	case secret == "" && r.Header.Get("Authorization") != "":
		return 0, errNoBearer
	case secret == "":
		return 0, errNoToken
	}
	scope, ok := t[sha256.Sum256([]byte(secret))]
	if !ok {
		return 0, errBadToken
	}
	return scope, nil
}

// Require lets a request through when authentication is off or its token has scope need;
// otherwise it sets the challenge and answers through fail. queryToken also accepts the token
// as ?access_token= (see authenticate).
func (t Tokens) Require(need Scope, queryToken bool, fail func(http.ResponseWriter, *http.Request, error), next http.HandlerFunc) http.HandlerFunc {
	if t == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		scope, err := t.authenticate(r, queryToken)
		if err == nil && scope < need {
			err = ErrScope(scope, need)
		}
		if err != nil {
			// RFC 6750: the challenge names the error, except when no (bearer) token came.
			challenge := `Bearer realm="forecastd"`
			switch {
			case err == error(errBadToken):
				challenge += `, error="invalid_token"`
			case err != error(errNoToken) && err != error(errNoBearer):
				challenge += fmt.Sprintf(`, error="insufficient_scope", scope="%s"`, need)
			}
			w.Header().Set("WWW-Authenticate", challenge)
			fail(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), scopeKey{}, scope)))
	}
}
