package ddblocal

import (
	"context"
	"fmt"
	"os/exec"
)

// StartOnDisk runs DynamoDB Local with its data in dbPath (-sharedDb
// -dbPath, one SQLite file for every client) on a free loopback port, or on
// port when non-zero. Unlike Start, a Restart keeps the data: a kill and
// restart then looks like a real outage, not a wiped database.
func StartOnDisk(ctx context.Context, port int, dbPath string) (*Instance, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	return start(ctx, dir, port, dbPath)
}
