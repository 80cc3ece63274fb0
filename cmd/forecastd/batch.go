package main

import (
	"context"
	"errors"
	"io"
)

// Owned by the batch work (issue 3).

// runBatch forecasts many series from a file.
func runBatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("batch is not implemented yet")
}
