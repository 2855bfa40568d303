package identity

import (
	"errors"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// apiError is a Keystone error: the HTTP status, its title and a message
// safe to show. It renders as {"error": {"code", "title", "message"}}.
type apiError struct {
	code    int
	message string
}

func (e *apiError) Error() string { return e.message }

var titles = map[int]string{
	http.StatusBadRequest:          "Bad Request",
	http.StatusUnauthorized:        "Unauthorized",
	http.StatusForbidden:           "Forbidden",
	http.StatusNotFound:            "Not Found",
	http.StatusMethodNotAllowed:    "Method Not Allowed",
	http.StatusConflict:            "Conflict",
	http.StatusInternalServerError: "Internal Server Error",
	http.StatusServiceUnavailable:  "Service Unavailable",
}

const msgUnauthorized = "The request you have made requires authentication."

func errUnauthorized() *apiError { return &apiError{http.StatusUnauthorized, msgUnauthorized} }

func errForbidden(action string) *apiError {
	return &apiError{http.StatusForbidden, "You are not authorized to perform the requested action: " + action + "."}
}

func errNotFound(kind, id string) *apiError {
	return &apiError{http.StatusNotFound, "Could not find " + kind + ": " + id + "."}
}

func errBadRequest(msg string) *apiError { return &apiError{http.StatusBadRequest, msg} }

func errConflict(msg string) *apiError { return &apiError{http.StatusConflict, msg} }

// writeError renders err in Keystone's shape; anything that is not an
// *apiError is a 500 whose detail stays in the logs.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*apiError)
	switch {
	case ok:
	case errors.Is(err, store.ErrCannotWrite):
		s.log.Error("identity request failed: store cannot write", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &apiError{http.StatusServiceUnavailable, "The service cannot store changes at the moment (the store cannot write); nothing was changed. Please try again later."}
	default:
		s.log.Error("identity request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &apiError{http.StatusInternalServerError, "An unexpected error prevented the server from fulfilling your request."}
	}
	if e.code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+s.baseURL(r)+`/identity"`)
	}
	writeErrorBody(w, e.code, e.message)
}

// writeErrorBody writes Keystone's {"error": {"code", "title", "message"}}.
func writeErrorBody(w http.ResponseWriter, code int, message string) {
	title := titles[code]
	if title == "" {
		title = http.StatusText(code)
	}
	httpapi.WriteJSON(w, code, errorBody{errorDetail{Code: code, Title: title, Message: message}})
}

// WriteUnauthorized writes Keystone's 401 body; middlewares that validate
// X-Auth-Token for other services use it so every 401 looks the same.
func WriteUnauthorized(w http.ResponseWriter, authURL string) {
	w.Header().Set("WWW-Authenticate", `Keystone uri="`+authURL+`"`)
	writeErrorBody(w, http.StatusUnauthorized, msgUnauthorized)
}
