package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/lb"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// apiError is an error with the HTTP status and user-safe faultstring it is
// answered with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func notFound(resource, id string) error {
	return &apiError{status: http.StatusNotFound, msg: resource + " " + id + " not found."}
}

func conflict(format string, args ...any) error {
	return &apiError{status: http.StatusConflict, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

const msgPolicy = "Policy does not allow this request to be performed."

// msgCannotWrite answers a write the store could not make (disk full,
// read-only or failing disk): nothing was changed, and the same request
// works once the store can write again.
const msgCannotWrite = "The service cannot store changes at the moment (the store cannot write); nothing was changed. Please try again later."

// writeError renders err as an Octavia fault. Unknown errors are logged with
// the request id and answered with a generic 500.
func (s *Server) writeError(q *request, err error) {
	var ae *apiError
	var ve *lb.ValidationError
	var qe *lb.QuotaExceededError
	var ce *lb.ConflictError
	switch {
	case errors.As(err, &ce):
		writeFault(q.w, http.StatusConflict, ce.Msg)
	case errors.As(err, &qe):
		q.log.Info("quota exceeded", "resource", qe.Resource.Key(), "limit", qe.Limit, "in_use", qe.InUse)
		writeFault(q.w, http.StatusForbidden, qe.Error())
	case errors.As(err, &ae):
		writeFault(q.w, ae.status, ae.msg)
	case errors.As(err, &ve):
		writeFault(q.w, http.StatusBadRequest, ve.Msg)
	case errors.Is(err, policy.ErrDenied):
		writeFault(q.w, http.StatusForbidden, msgPolicy)
	case errors.Is(err, store.ErrCannotWrite):
		q.log.Error("store cannot write", "method", q.r.Method, "path", q.r.URL.Path, "err", err)
		writeFault(q.w, http.StatusServiceUnavailable, msgCannotWrite)
	case errors.Is(err, store.ErrBusy):
		q.log.Warn("store busy", "err", err)
		writeFault(q.w, http.StatusServiceUnavailable, "The service is busy. Please try again.")
	case errors.Is(err, context.Canceled):
		q.log.Info("request canceled", "err", err)
		writeFault(q.w, http.StatusServiceUnavailable, "The request was canceled.")
	default:
		q.log.Error("request failed", "method", q.r.Method, "path", q.r.URL.Path, "err", err)
		writeFault(q.w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// fault is Octavia's (WSME's) error body.
type fault struct {
	FaultCode   string  `json:"faultcode"`
	FaultString string  `json:"faultstring"`
	DebugInfo   *string `json:"debuginfo"`
}

func writeFault(w http.ResponseWriter, status int, msg string) {
	if rec, ok := w.(*recorder); ok && rec.neutron {
		writeNeutronFault(w, status, msg)
		return
	}
	code := "Client"
	if status >= 500 {
		code = "Server"
	}
	httpapi.WriteJSON(w, status, fault{FaultCode: code, FaultString: msg})
}

func writeEmpty(w http.ResponseWriter, status int) {
	w.WriteHeader(status)
}

// readBody reads a JSON request body, enforcing the size limit (413) and
// the media type (415).
func (s *Server) readBody(q *request) ([]byte, error) {
	if ct := q.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return nil, &apiError{status: http.StatusUnsupportedMediaType, msg: "Unsupported Content-Type"}
		case mt == "application/json", mt == "text/javascript", mt == "application/javascript":
		default:
			return nil, &apiError{status: http.StatusUnsupportedMediaType, msg: "Unsupported Content-Type"}
		}
	}
	data, err := io.ReadAll(io.LimitReader(q.r.Body, s.maxBody+1))
	if err != nil {
		return nil, badRequest("Request is not in valid JSON format")
	}
	if int64(len(data)) > s.maxBody {
		return nil, errTooLarge()
	}
	return data, nil
}
