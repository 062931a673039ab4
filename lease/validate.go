package lease

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"

	"github.com/google/uuid"
)

// maxIDLen bounds uids and device ids.
const maxIDLen = 128

// ValidUID reports whether uid is 1-128 characters of A-Za-z0-9 and -_.:@+=,
// not all of them dots: "." and ".." are path segments, not accounts.
func ValidUID(uid string) bool { return validID(uid) }

// ValidDeviceID reports whether id is a valid device id (the uid rules).
func ValidDeviceID(id string) bool { return validID(id) }

// ValidLeaseID reports whether id is a canonical (lower-case, hyphenated)
// UUID, the only form the service hands out.
func ValidLeaseID(id string) bool {
	if len(id) != 36 {
		return false
	}
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.':
			dots++
		case c == '-', c == '_', c == ':', c == '@', c == '+', c == '=':
		default:
			return false
		}
	}
	return dots < len(s)
}

func validateClient(c Client) error {
	if len(c.UserAgent)+len(c.Title) > MaxClientBytes ||
		!utf8.ValidString(c.UserAgent) || !utf8.ValidString(c.Title) {
		return ErrInvalidClient
	}
	return nil
}

// ValidateRequest checks a CanStream request without calling the store:
// the validation error CanStream would return, or nil.
func ValidateRequest(uid string, req Request) error { return validateRequest(uid, req) }

func validateRequest(uid string, req Request) error {
	if !ValidUID(uid) {
		return ErrInvalidUID
	}
	if req.DeviceID != "" && !ValidDeviceID(req.DeviceID) {
		return ErrInvalidDeviceID
	}
	if req.DeviceSecret != "" && !ValidDeviceSecret(req.DeviceSecret) {
		return ErrInvalidSecret
	}
	if req.LeaseID != "" && !ValidLeaseID(req.LeaseID) {
		return ErrInvalidLeaseID
	}
	return validateClient(req.Client)
}

func validateLease(uid, leaseID string) error {
	if !ValidUID(uid) {
		return ErrInvalidUID
	}
	if !ValidLeaseID(leaseID) {
		return ErrInvalidLeaseID
	}
	return nil
}

// handleLen is the length of a session handle: 16 lower-case hex digits.
const handleLen = 16

// ValidHandle reports whether h looks like a session handle.
func ValidHandle(h string) bool {
	if len(h) != handleLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// handleOf derives a lease's session handle from its id: a one-way hash,
// so showing the handle to other players reveals nothing of the lease id.
func handleOf(leaseID string) string {
	sum := sha256.Sum256([]byte("streamlimit session handle\x00" + leaseID))
	return hex.EncodeToString(sum[:handleLen/2])
}

// Device secrets are 16-128 characters of A-Z a-z 0-9 - _ (a UUID, or
// base64url of at least 12 random bytes, fits).
const minSecretLen, maxSecretLen = 16, 128

// ValidDeviceSecret reports whether s is a well-formed device secret.
func ValidDeviceSecret(s string) bool {
	if len(s) < minSecretLen || len(s) > maxSecretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// secretHash is what a lease stores of its device secret: a one-way hash
// bound to the device id, so the store never holds the secret itself. The
// secret is random, so a fast hash suffices.
func secretHash(deviceID, secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("streamlimit device secret\x00" + deviceID + "\x00" + secret))
	return hex.EncodeToString(sum[:])
}
