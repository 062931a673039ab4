package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Algorithms are the only JWT signature algorithms JWKS accepts: a token
// with any other "alg" ("none", HS256 included, whatever key it names) is
// refused before any key is looked up.
var Algorithms = []string{"RS256", "ES256"}

// Leeway is the clock skew allowed on exp, nbf and iat: a token expired
// less than this ago still passes, one valid from less than this ahead
// already does.
const Leeway = 30 * time.Second

// Defaults of JWKSConfig.
const (
	// DefaultRefreshInterval is how often the key set is fetched again,
	// whatever the tokens say: the longest a key removed from the set keeps
	// verifying tokens.
	DefaultRefreshInterval = time.Hour
	// DefaultUnknownKIDInterval is the least time between two fetches made
	// because a token names a key id the cached set lacks (a rotated key):
	// tokens with made-up key ids cannot make the service hammer the
	// identity provider.
	DefaultUnknownKIDInterval = time.Minute
	// DefaultFetchTimeout bounds one fetch of the key set.
	DefaultFetchTimeout = 5 * time.Second
)

// JWKSConfig configures NewJWKS.
type JWKSConfig struct {
	// URL is the identity provider's JWK Set (JWKS) URL. It must be https,
	// or http to a loopback host (local trials, tests).
	URL string
	// Issuer is the required "iss" claim, exactly.
	Issuer string
	// Audience is the required "aud" claim (one of the token's audiences).
	Audience string
	// UIDClaim names the string claim that is the account (default "sub").
	UIDClaim string
	// Client fetches the key set (default: a client with FetchTimeout).
	Client *http.Client
	// RefreshInterval, UnknownKIDInterval and FetchTimeout default to
	// DefaultRefreshInterval, DefaultUnknownKIDInterval and
	// DefaultFetchTimeout.
	RefreshInterval    time.Duration
	UnknownKIDInterval time.Duration
	FetchTimeout       time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives failed fetches of the key set (default: discarded).
	Logger *slog.Logger
}

// JWKS verifies bearer JWTs against an identity provider's key set. Build
// it with NewJWKS.
//
// A token passes when its header's "alg" is RS256 or ES256; its signature
// verifies with the key of the set its "kid" names (without a kid: any key
// of the set) and that key fits the algorithm (an RSA key for RS256, a
// P-256 key for ES256, the JWK's own "alg" when it has one); its "iss" is
// Issuer and "aud" contains Audience; "exp" is present and not past, "nbf"
// and "iat" when present not ahead (each with Leeway); and its UIDClaim is
// a non-empty string, the account.
//
// The key set is fetched when NewJWKS is called, again every
// RefreshInterval (a refresh replaces the cached set: removed keys stop
// verifying), and when a token names a key id the cached set lacks, at most
// once per UnknownKIDInterval; such a token waits for that fetch, never for
// the rate limit (over it, it is refused at once). A failed fetch keeps the
// cached set.
type JWKS struct {
	kf     keyfunc.Keyfunc
	parser *jwt.Parser
	claim  string
}

var _ Verifier = (*JWKS)(nil)

// NewJWKS fetches the key set and returns the verifier; ctx ends its
// background refreshes. A first fetch that fails is logged, not returned:
// the service starts, and the first token fetches again. A configuration
// that cannot work (no URL, issuer or audience, a plain-http URL to another
// host) is an error.
func NewJWKS(ctx context.Context, c JWKSConfig) (*JWKS, error) {
	if err := CheckJWKSURL(c.URL); err != nil {
		return nil, err
	}
	if c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("auth: JWKS needs an issuer and an audience")
	}
	if c.UIDClaim == "" {
		c.UIDClaim = "sub"
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.UnknownKIDInterval <= 0 {
		c.UnknownKIDInterval = DefaultUnknownKIDInterval
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.FetchTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.URL}, keyfunc.Override{
		Client:          c.Client,
		HTTPTimeout:     c.FetchTimeout,
		RefreshInterval: c.RefreshInterval,
		// One unknown-kid fetch per interval; a token over the limit does
		// not wait for it (its wait would pass this deadline, so the
		// limiter refuses at once), but the fetch it triggers has this
		// long to complete.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(c.UnknownKIDInterval), 1),
		RateLimitWaitMax:  c.FetchTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "auth: fetching the JWKS failed; the cached keys stay in use", "url", u, "error", err.Error())
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	return &JWKS{
		kf: kf,
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algorithms),
			jwt.WithIssuer(c.Issuer),
			jwt.WithAudience(c.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(c.Now),
		),
		claim: c.UIDClaim,
	}, nil
}

// NewVerifier returns NewJWKS(ctx, *c), or a nil Verifier (no identity
// check) when c is nil.
func NewVerifier(ctx context.Context, c *JWKSConfig) (Verifier, error) {
	if c == nil {
		return nil, nil
	}
	j, err := NewJWKS(ctx, *c)
	if err != nil {
		return nil, err
	}
	return j, nil
}

// Verify returns the account token names, or an error wrapping
// ErrUnauthenticated: bare without a token, a *TokenError when it does
// not verify.
func (j *JWKS) Verify(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", ErrUnauthenticated
	}
	claims := jwt.MapClaims{}
	if _, err := j.parser.ParseWithClaims(token, claims, j.kf.KeyfuncCtx(ctx)); err != nil {
		return "", &TokenError{Description: describe(err), Err: err}
	}
	uid, _ := claims[j.claim].(string)
	if uid == "" {
		return "", &TokenError{Description: "the token has no string claim " + j.claim}
	}
	return uid, nil
}

// describe says, publicly, why a token was refused.
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience is not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "no key of the identity provider verifies the token"
	}
	return "the token's signature or algorithm is not accepted"
}

// CheckJWKSURL checks a key set URL: absolute, https, or http to a loopback
// host only (a key set fetched in clear text over a network could be
// anyone's).
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("auth: no JWKS URL")
	case err != nil || u.Host == "":
		return fmt.Errorf("auth: JWKS URL %q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("auth: JWKS URL %q must be https (plain http only to localhost)", raw)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
