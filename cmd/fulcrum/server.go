package main

import (
	"context"
	"errors"
	"io"
)

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("server: not built yet")
}
