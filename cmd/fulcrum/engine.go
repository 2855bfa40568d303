package main

import (
	"context"
	"errors"
	"io"
)

// runEngine is replaced by the native engine work.
func runEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("engine: not built yet")
}
