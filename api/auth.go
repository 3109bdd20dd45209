package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"mime"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// Role is what a token may do; each role may do what the ones before it may.
type Role int

const (
	RoleNone     Role = iota
	RoleViewer        // reads
	RoleOperator      // overrides: drain, force, pin, switch back
	RoleAdmin         // configuration: create, change, delete, roll back
)

var roleNames = map[string]Role{"viewer": RoleViewer, "operator": RoleOperator, "admin": RoleAdmin}

func (r Role) String() string {
	for k, v := range roleNames {
		if v == r {
			return k
		}
	}
	return "none"
}

// token is one line of the token file. Only the secret's digest is kept,
// so that comparing takes the same time whatever the secret's length.
type token struct {
	name   string
	role   Role
	digest [32]byte
}

// MinSecret is the shortest secret a token file may hold.
const MinSecret = 16

// readTokens reads a token file: one token per line, "NAME ROLE SECRET",
// with '#' comments and blank lines. Errors name the file and line, never
// the secret.
func readTokens(path string) ([]token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	var out []token
	names := map[string]int{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: a token is 'NAME ROLE SECRET' (%d fields given)", path, line, len(fields))
		}
		role, ok := roleNames[fields[1]]
		if !ok {
			return nil, fmt.Errorf("%s:%d: role '%s' is not one of viewer, operator, admin", path, line, fields[1])
		}
		if len(fields[2]) < MinSecret {
			return nil, fmt.Errorf("%s:%d: the secret of token '%s' is shorter than %d characters", path, line, fields[0], MinSecret)
		}
		if first, dup := names[fields[0]]; dup {
			return nil, fmt.Errorf("%s:%d: token name '%s' is used twice (first at line %d)", path, line, fields[0], first)
		}
		names[fields[0]] = line
		out = append(out, token{name: fields[0], role: role, digest: sha256.Sum256([]byte(fields[2]))})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("token file %s holds no token", path)
	}
	return out, nil
}

// caller is who makes a request.
type caller struct {
	name string
	role Role
}

type callerKey struct{}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// identify finds the token a request presents. Every token is compared,
// in constant time, so that timing says nothing about which one nearly
// matched.
func identify(tokens []token, header string) (caller, bool) {
	// The scheme is case-insensitive (RFC 9110 11.1).
	if len(header) < 7 || !strings.EqualFold(header[:7], "bearer ") {
		return caller{}, false
	}
	secret := header[7:]
	d := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	found := -1
	for i := range tokens {
		if subtle.ConstantTimeCompare(d[:], tokens[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return caller{}, false
	}
	return caller{name: tokens[found].name, role: tokens[found].role}, true
}

// roleKey is the operation metadata entry naming the role it needs.
const roleKey = "x-gtm-role"

// authorize is the middleware that checks the bearer token against the
// role the operation needs: 401 without a valid token, 403 with one whose
// role is too low. Without tokens (allowed on loopback only) every caller
// is an admin named "local".
func (s *Service) authorize(api huma.API) func(ctx huma.Context, next func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		need, _ := ctx.Operation().Metadata[roleKey].(Role)
		if need == RoleNone { // the OpenAPI document
			next(ctx)
			return
		}
		c := caller{name: "local", role: RoleAdmin}
		if s.tokens == nil {
			// Without tokens anyone who reaches the address is an admin,
			// so only this host may: a web page's request (a rebound name,
			// another origin) is refused.
			if !loopbackHost(ctx.Host()) {
				huma.WriteErr(api, ctx, 403, fmt.Sprintf("without tokens the API answers requests to a loopback host only, not '%s'", ctx.Host()))
				return
			}
			if o := ctx.Header("Origin"); o != "" && !loopbackOrigin(o) {
				huma.WriteErr(api, ctx, 403, fmt.Sprintf("without tokens the API answers no request from another site ('%s')", o))
				return
			}
		}
		if hasBody(ctx) && !jsonType(ctx.Header("Content-Type")) {
			huma.WriteErr(api, ctx, 415, "a request body must be JSON: send 'Content-Type: application/json'")
			return
		}
		if s.tokens != nil {
			var ok bool
			c, ok = identify(s.tokens, ctx.Header("Authorization"))
			if !ok {
				ctx.SetHeader("WWW-Authenticate", `Bearer realm="gtm"`)
				huma.WriteErr(api, ctx, 401, "a valid bearer token is needed: 'Authorization: Bearer SECRET'")
				return
			}
		}
		if c.role < need {
			huma.WriteErr(api, ctx, 403, fmt.Sprintf("token '%s' has role %s; this needs %s", c.name, c.role, need))
			return
		}
		next(huma.WithValue(ctx, callerKey{}, c))
	}
}

// Whoami is the caller as the API sees it.
type Whoami struct {
	Name string `json:"name" doc:"the token's name; 'local' without tokens"`
	Role string `json:"role" enum:"viewer,operator,admin"`
}

type whoamiOutput struct {
	ETag string `header:"ETag"`
	Body Whoami
}

func (s *Service) registerWhoami(api huma.API) {
	huma.Register(api, op(RoleViewer, huma.Operation{OperationID: "whoami", Method: "GET", Path: "/api/v1/whoami", Tags: []string{"Zones"},
		Summary: "The caller's token name and role (the console shows only what the role may do)"}),
		func(ctx context.Context, _ *struct{}) (*whoamiOutput, error) {
			c := callerOf(ctx)
			s.mu.RLock()
			rev := s.rev
			s.mu.RUnlock()
			return &whoamiOutput{ETag: etag(rev), Body: Whoami{Name: c.name, Role: c.role.String()}}, nil
		})
}

func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && loopbackHost(u.Host)
}

func hasBody(ctx huma.Context) bool {
	if ctx.Header("Transfer-Encoding") != "" {
		return true
	}
	n := ctx.Header("Content-Length")
	return n != "" && n != "0"
}

func jsonType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
