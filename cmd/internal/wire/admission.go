package wire

import (
	"fmt"

	"github.com/streamlimit/streamlimit/admission"
	"github.com/streamlimit/streamlimit/config"
)

// Admission builds the admission limiter the configuration asks for (nil
// with ADMISSION=off): the bound on store work in flight in front of the
// HTTP API (package admission, handlers.Config.Admission). cmd/local and
// cmd/api set it on their handlers.Config.
func Admission(c config.Config) (*admission.Limiter, error) {
	a := c.Admission
	if !a.On {
		return nil, nil
	}
	lim, err := admission.New(admission.Config{
		Budget: c.StoreTimeout, MaxWait: a.MaxWait, Target: a.Target,
		InitialLimit: min(max(admission.DefaultInitialLimit, a.MinInFlight), a.MaxInFlight),
		MinLimit:     a.MinInFlight, MaxLimit: a.MaxInFlight,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return lim, nil
}
