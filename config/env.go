package config

import (
	"fmt"
	"strconv"
	"strings"
)

// env reads the variables of one Load through getenv and collects one
// message per malformed variable, in the order they are read.
type env struct {
	getenv func(string) string
	errs   []string
}

// Retired are variables that are no longer read, each with what replaced
// it: a start that sets one stops with that message rather than run
// without the setting its operator meant.
var Retired = []struct{ Name, Instead string }{
	{"JWT_HS256_SECRET", "tokens are verified against the identity provider's key set (JWKS_URL, JWT_ISSUER, JWT_AUDIENCE; locally DEV_ISSUER=true)"},
}

// retired refuses the retired variables that are set.
func (e *env) retired() {
	for _, r := range Retired {
		if e.getenv(r.Name) != "" {
			e.bad("%s is no longer read: %s", r.Name, r.Instead)
		}
	}
}

// bad records a malformed variable.
func (e *env) bad(format string, args ...any) { e.errs = append(e.errs, fmt.Sprintf(format, args...)) }

// num reads a non-negative integer, def when unset.
func (e *env) num(name string, def int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.bad("%s=%q is not a non-negative integer", name, v)
	}
	return n
}

// share reads a fraction between 0 and 1, def when unset.
func (e *env) share(name string, def float64) float64 {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		e.bad("%s=%q is not a number between 0 and 1", name, v)
		return def
	}
	return f
}

// flag reads a boolean (1/true/yes, 0/false/no, any case), false when unset.
func (e *env) flag(name string) bool {
	switch v := strings.ToLower(e.getenv(name)); v {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		return true
	default:
		e.bad("%s=%q is not true or false", name, v)
	}
	return false
}

// oneOf reads a mode that must be a or b (any case; def when unset) and
// returns it lower-cased.
func (e *env) oneOf(name, def, a, b string) string {
	v := strings.ToLower(or(e.getenv(name), def))
	if v != a && v != b {
		e.bad("%s=%q is not %s or %s", name, v, a, b)
	}
	return v
}

// secret reads an optional secret that, when set, must be at least
// shortest bytes long (unit names them in the message).
func (e *env) secret(name string, shortest int, unit string) string {
	v := e.getenv(name)
	if v != "" && len(v) < shortest {
		e.bad("%s has %d %s; want at least %d", name, len(v), unit, shortest)
	}
	return v
}
