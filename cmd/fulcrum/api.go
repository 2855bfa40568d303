package main

import (
	"log/slog"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/controller"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

type apiDeps struct {
	cfg   *serverConfig
	store store.Store
	ctrl  *controller.Controller
	log   *slog.Logger
}

// newAPI builds the public API handler.
func newAPI(d apiDeps) (http.Handler, error) {
	return http.NotFoundHandler(), nil
}
