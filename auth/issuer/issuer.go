// Package issuer is a small identity provider for tests and local trials:
// it holds signing keys (RSA for RS256, EC P-256 for ES256), serves their
// public JWK Set, and signs tokens. The service verifies its tokens with
// auth.JWKS exactly as it verifies a real provider's, so tests and
// `make run AUTH=jwks` use the deployed code path.
//
// It is not an identity provider to deploy: anyone who reaches its token
// route gets a token for any account. The Lambda functions never link it.
package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Key algorithms.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Issuer holds keys and signs tokens as Issuer (the "iss" claim) for
// Audience (the "aud" claim).
type Issuer struct {
	Issuer   string
	Audience string
	// Claim names the account's claim (default "sub").
	Claim string
	// OmitAlg publishes the keys without their "alg", as some providers
	// do: then only the key's type decides what it verifies.
	OmitAlg bool

	mu      sync.Mutex
	keys    map[string]key // by kid
	next    int
	fetches atomic.Int64
}

type key struct {
	alg  string
	priv crypto.Signer
}

// New returns an issuer with one RSA key (RS256) and one EC key (ES256).
func New(issuer, audience string) (*Issuer, error) {
	is := &Issuer{Issuer: issuer, Audience: audience, keys: map[string]key{}}
	for _, alg := range []string{RS256, ES256} {
		if _, err := is.AddKey(alg); err != nil {
			return nil, err
		}
	}
	return is, nil
}

// AddKey generates a key for alg (RS256 or ES256), publishes it in the key
// set and returns its kid: a key rotation's first step.
func (is *Issuer) AddKey(alg string) (string, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", fmt.Errorf("issuer: no %s keys", alg)
	}
	if err != nil {
		return "", err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.next++
	kid := fmt.Sprintf("%s-%d", alg, is.next)
	is.keys[kid] = key{alg: alg, priv: priv}
	return kid, nil
}

// RemoveKey takes kid out of the key set: a rotation's last step.
func (is *Issuer) RemoveKey(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.keys, kid)
}

// KIDs returns the key ids of the set, sorted.
func (is *Issuer) KIDs() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return slices.Sorted(maps.Keys(is.keys))
}

// KID returns the kid of the first key of the set for alg, or "".
func (is *Issuer) KID(alg string) string {
	for _, kid := range is.KIDs() {
		if is.key(kid).alg == alg {
			return kid
		}
	}
	return ""
}

func (is *Issuer) key(kid string) key {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[kid]
}

// Claims returns the claims of a token for uid valid from now for ttl.
func (is *Issuer) Claims(uid string, now time.Time, ttl time.Duration) jwt.MapClaims {
	claim := is.Claim
	if claim == "" {
		claim = "sub"
	}
	return jwt.MapClaims{
		"iss": is.Issuer, "aud": is.Audience, claim: uid,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
}

// Sign signs claims with the key kid, naming it in the header.
func (is *Issuer) Sign(kid string, claims jwt.MapClaims) (string, error) {
	k := is.key(kid)
	if k.priv == nil {
		return "", fmt.Errorf("issuer: no key %q", kid)
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	t.Header["kid"] = kid
	return t.SignedString(k.priv)
}

// Token returns a token for uid valid for ttl from now, signed with the
// first RS256 key.
func (is *Issuer) Token(uid string, ttl time.Duration) (string, error) {
	return is.Sign(is.KID(RS256), is.Claims(uid, time.Now(), ttl))
}

// PublicKeyPEM returns the public key kid as PEM (PKIX), as an identity
// provider may publish it: the bytes an alg-confusion attack uses as an
// HMAC secret.
func (is *Issuer) PublicKeyPEM(kid string) ([]byte, error) {
	k := is.key(kid)
	if k.priv == nil {
		return nil, fmt.Errorf("issuer: no key %q", kid)
	}
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// PrivateKey returns the private key kid, for tests that sign tokens the
// issuer would not (another algorithm, a made-up kid).
func (is *Issuer) PrivateKey(kid string) (crypto.Signer, error) {
	k := is.key(kid)
	if k.priv == nil {
		return nil, fmt.Errorf("issuer: no key %q", kid)
	}
	return k.priv, nil
}

// JWKS returns the public JWK Set, each key with its kid, alg and use.
func (is *Issuer) JWKS() ([]byte, error) {
	var set jwkset.JWKSMarshal
	for _, kid := range is.KIDs() {
		k := is.key(kid)
		meta := jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig}
		if is.OmitAlg {
			meta.ALG = ""
		}
		j, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: meta})
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	if set.Keys == nil {
		set.Keys = []jwkset.JWKMarshal{}
	}
	return json.Marshal(set)
}

// Fetches counts the requests for the key set so far.
func (is *Issuer) Fetches() int { return int(is.fetches.Load()) }

// Handler serves GET /jwks.json (the key set) and GET /token/{uid} (a
// token for uid, RS256, valid for ?ttl= seconds, default 3600, as plain
// text).
func (is *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		b, err := is.JWKS()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /token/{uid}", func(w http.ResponseWriter, r *http.Request) {
		ttl := time.Hour
		if s := r.URL.Query().Get("ttl"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				http.Error(w, "ttl must be a positive number of seconds", http.StatusBadRequest)
				return
			}
			ttl = time.Duration(n) * time.Second
		}
		tok, err := is.Token(r.PathValue("uid"), ttl)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = fmt.Fprintln(w, tok)
	})
	return mux
}
