package network

import (
	"errors"
	"fmt"
	"github.com/fulcrumlb/fulcrum/internal/store"
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/policy"
)

// Error is a Neutron fault: {"NeutronError": {"type", "message", "detail"}}.
type Error struct {
	Code    int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// faultBody is the wire form of an Error.
type faultBody struct {
	NeutronError fault `json:"NeutronError"`
}

type fault struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

func notFound(kind, typ, id string) *Error {
	return &Error{Code: http.StatusNotFound, Type: typ, Message: fmt.Sprintf("%s %s could not be found.", kind, id)}
}

func badRequest(resource, msg string) *Error {
	return &Error{Code: http.StatusBadRequest, Type: "HTTPBadRequest", Message: fmt.Sprintf("Bad %s request: %s.", resource, strings.TrimSuffix(msg, "."))}
}

func invalidInput(msg string) *Error {
	return &Error{Code: http.StatusBadRequest, Type: "InvalidInput", Message: "Invalid input for operation: " + msg}
}

// denied is Neutron's answer to a call its policy refuses on an object the
// caller may see: 403 PolicyNotAuthorized naming the rule.
func denied(rule policy.Rule) *Error {
	return &Error{Code: http.StatusForbidden, Type: "PolicyNotAuthorized", Message: "(rule:" + string(rule) + ") is disallowed by policy"}
}

func conflict(typ, msg string) *Error {
	return &Error{Code: http.StatusConflict, Type: typ, Message: msg}
}

// readOnly refuses a PUT that sets an attribute Neutron does not let change.
func readOnly(resource, attr string) *Error {
	return badRequest(resource, "Cannot update read-only attribute "+attr)
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrCannotWrite):
		s.log.Error("network request failed: store cannot write", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusServiceUnavailable, Type: "HTTPServiceUnavailable", Message: "The service cannot store changes at the moment (the store cannot write); nothing was changed. Please try again later."}
	default:
		s.log.Error("network request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Code: http.StatusInternalServerError, Type: "HTTPInternalServerError", Message: "Request Failed: internal server error while processing your request."}
	}
	httpapi.WriteJSON(w, e.Code, faultBody{fault{Type: e.Type, Message: e.Message}})
}
