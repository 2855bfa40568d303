package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/ids"

	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/secrets/barbican"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Barbican's content types: plain text and binary (octet-stream, pkcs8).
const (
	ctText   = "text/plain"
	ctBinary = "application/octet-stream"
	ctPKCS8  = "application/pkcs8"
)

// supportedTypes is Barbican's mime_types.SUPPORTED, as it prints it.
const supportedTypes = "['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']"

// normalizeContentType maps a payload content type onto its internal form,
// or "" when it is not supported.
func normalizeContentType(ct string) string {
	parts := strings.Split(ct, ";")
	m := strings.ToLower(strings.TrimSpace(parts[0]))
	if len(parts) > 1 {
		k, v, ok := strings.Cut(parts[1], "=")
		if !ok || strings.TrimSpace(strings.ToLower(k)) != "charset" || strings.ToLower(strings.TrimSpace(v)) != "utf-8" || len(parts) > 2 || m != ctText {
			return ""
		}
	}
	switch m {
	case ctText, ctBinary, ctPKCS8:
		return m
	}
	return ""
}

func isBinary(ct string) bool { return ct == ctBinary || ct == ctPKCS8 }

func (s *Service) loadSecret(ctx context.Context, id string) (*barbican.Secret, error) {
	var sec *barbican.Secret
	err := s.opts.Store.View(ctx, func(tx store.Tx) error {
		var err error
		sec, err = tx.Secrets().Get(ctx, strings.ToLower(id))
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && sec.Expired(s.now()) {
		return nil, errorf(http.StatusNotFound, "Secret not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("load secret %s: %w", id, err)
	}
	return sec, nil
}

func (s *Service) createSecret(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	const op = "Secret creation"
	if !canCreate(c) {
		return forbidden(op)
	}
	body, err := readJSON(r, int64(s.opts.MaxSecretBytes)+8192, "['application/json']")
	if err != nil {
		return err
	}
	if err := checkFields("Secret", body, secretFields); err != nil {
		return err
	}
	now := s.now()
	sec := &barbican.Secret{ID: ids.New(), ProjectID: c.ProjectID, CreatorID: c.UserID, Name: str(body, "name"),
		Type: barbican.TypeOpaque, Algorithm: str(body, "algorithm"), Mode: str(body, "mode"), CreatedAt: now, UpdatedAt: now}
	if t := str(body, "secret_type"); t != "" {
		sec.Type = t
	}
	if n, ok := body["bit_length"].(float64); ok {
		b := int(n)
		sec.BitLength = &b
	}
	if e := str(body, "expiration"); e != "" {
		t, ok := parseExpiration(e)
		if !ok {
			return invalidObject("Secret", "Invalid date for 'expiration'", "expiration")
		}
		if !t.After(now) {
			return invalidObject("Secret", "'expiration' is before current time", "expiration")
		}
		sec.Expiration = &t
	}
	var plain []byte
	contentType := str(body, "payload_content_type")
	encoding := str(body, "payload_content_encoding")
	if _, has := body["payload"]; has {
		if _, set := body["payload_content_type"]; !set || body["payload_content_type"] == nil {
			return invalidObject("Secret", "If 'payload' is supplied, 'payload_content_type' must also be supplied.", "payload_content_type")
		}
		norm := normalizeContentType(contentType)
		if norm == "" {
			return invalidObject("Secret", "payload_content_type is not one of "+supportedTypes, "payload_content_type")
		}
		if err := checkEncoding(norm, encoding); err != nil {
			return err
		}
		payload := str(body, "payload")
		if len(payload) > s.opts.MaxSecretBytes {
			return errorf(http.StatusRequestEntityTooLarge, "Provided information too large to process")
		}
		if payload == "" {
			return invalidObject("Secret", "If 'payload' specified, must be non empty", "payload")
		}
		if encoding == "base64" {
			plain, err = decodeBase64(payload)
			if err != nil {
				return invalidObject("Secret", "Invalid payload for payload_content_encoding", "payload")
			}
		} else {
			plain = []byte(payload)
		}
		sec.ContentType = norm
	} else if _, has := body["payload_content_type"]; has {
		return invalidObject("Secret", "payload must be provided when payload_content_type is specified", "payload")
	}
	if plain != nil {
		sealed, err := s.opts.Keys.Seal(plain, []byte(sec.ID))
		if err != nil {
			return err
		}
		sec.Payload = sealed
	}
	if err := s.opts.Store.Update(r.Context(), func(tx store.Tx) error { return tx.Secrets().Create(r.Context(), sec) }); err != nil {
		return fmt.Errorf("create secret: %w", err)
	}
	href := s.secretHref(r, sec.ID)
	w.Header().Set("Location", href)
	writeJSON(w, http.StatusCreated, secretRefReply{href})
	return nil
}

// checkEncoding is Barbican's is_content_type_with_encoding_supported:
// binary types need an encoding (base64 in a JSON body), text none.
func checkEncoding(norm, encoding string) error {
	if isBinary(norm) {
		if encoding != "base64" && encoding != "binary" {
			return invalidObject("Secret", "payload_content_encoding is not one of ['base64', 'binary']", "payload_content_encoding")
		}
		return nil
	}
	if encoding != "" {
		return invalidObject("Secret", "payload_content_encoding is not one of None", "payload_content_encoding")
	}
	return nil
}

// secretView is a secret's metadata as Barbican renders it (microversion
// 1.0: no consumers).
func (s *Service) secretView(r *http.Request, sec *barbican.Secret) secretView {
	v := secretView{SecretRef: s.secretHref(r, sec.ID), Status: "ACTIVE",
		Created: pyTime(sec.CreatedAt), Updated: pyTime(sec.UpdatedAt),
		Name: nullable(sec.Name), SecretType: sec.Type, Algorithm: nullable(sec.Algorithm),
		BitLength: sec.BitLength, Mode: nullable(sec.Mode), CreatorID: nullable(sec.CreatorID)}
	if sec.Expiration != nil {
		e := pyTime(*sec.Expiration)
		v.Expiration = &e
	}
	if sec.Payload != nil {
		v.ContentTypes = &contentTypes{Default: sec.ContentType}
	}
	if microversion(r) >= 1 {
		v.Consumers = []struct{}{}
	}
	return v
}

// nullable renders an empty string as null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// microversion is the minor version of "OpenStack-API-Version:
// key-manager 1.x" (0 when absent; "latest" is 1).
func microversion(r *http.Request) int {
	h := strings.Fields(r.Header.Get("OpenStack-API-Version"))
	if len(h) != 2 || h[0] != "key-manager" {
		return 0
	}
	if h[1] == "latest" {
		return 1
	}
	_, minor, ok := strings.Cut(h[1], ".")
	n, err := strconv.Atoi(minor)
	if !ok || err != nil {
		return 0
	}
	return n
}

// wantsJSON is Barbican's is_json_request_accept: no Accept header,
// application/json or */* exactly.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || a == "application/json" || a == "*/*"
}

func (s *Service) getSecret(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
	if !wantsJSON(r) {
		return s.getPayload(w, r, c, sec, "Secret retrieval")
	}
	if !canRead(c, secretOwner(sec)) {
		return forbidden("Secret retrieval")
	}
	writeJSON(w, http.StatusOK, s.secretView(r, sec))
	return nil
}

func (s *Service) getPayload(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret, op string) error {
	if !canRead(c, secretOwner(sec)) {
		return forbidden(op)
	}
	accept := r.Header.Get("Accept")
	if accept == "" || accept == "*/*" {
		accept = r.URL.Query().Get("payload_content_type")
	}
	if sec.Payload == nil {
		return errorf(http.StatusNotFound, "Not Found. Sorry but your secret has no payload.")
	}
	if accept == "" || accept == "*/*" {
		accept = sec.ContentType
	}
	want := normalizeContentType(accept)
	if want == "" {
		return issue(http.StatusNotAcceptable, op, "Wrong payload content-type")
	}
	plain, err := s.opts.Keys.Open(sec.Payload, []byte(sec.ID))
	if err != nil {
		return fmt.Errorf("secret %s: %w", sec.ID, err)
	}
	if want == ctText && !utf8.Valid(plain) {
		return issue(http.StatusNotAcceptable, op, "Wrong payload content-type")
	}
	w.Header().Set("Content-Type", accept)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(plain)
	return nil
}

func (s *Service) putPayload(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
	const op = "Secret update"
	if !canWrite(c, secretOwner(sec)) {
		return forbidden(op)
	}
	ct := mediaType(r.Header.Get("Content-Type"))
	if ct != ctBinary && ct != ctText {
		return errorf(http.StatusUnsupportedMediaType, "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.MaxSecretBytes)+1))
	if err != nil {
		return fmt.Errorf("read payload: %w", err)
	}
	if len(body) == 0 {
		return issue(http.StatusBadRequest, op, "No data supplied to process")
	}
	if len(body) > s.opts.MaxSecretBytes {
		return issue(http.StatusRequestEntityTooLarge, op, "Provided information too large to process")
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	plain := body
	switch {
	case ct == ctText && enc != "":
		return issue(http.StatusBadRequest, op, "Secret Content-Encoding of '"+enc+"' not supported")
	case enc == "base64":
		if plain, err = decodeBase64(string(body)); err != nil {
			return issue(http.StatusBadRequest, op, "Unable to decode request data")
		}
	case enc != "" && enc != "binary":
		return issue(http.StatusBadRequest, op, "Secret Content-Encoding of '"+enc+"' not supported")
	}
	var ids []string
	err = s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		cur, err := tx.Secrets().Lock(r.Context(), sec.ID)
		if err != nil {
			return err
		}
		if ids, err = holders(r.Context(), tx, sec.ID); err != nil {
			return err
		}
		if cur.Payload != nil {
			return errorf(http.StatusConflict, "Secret already has data, cannot modify it.")
		}
		sealed, err := s.opts.Keys.Seal(plain, []byte(cur.ID))
		if err != nil {
			return err
		}
		cur.Payload, cur.ContentType, cur.UpdatedAt = sealed, ct, s.now()
		return tx.Secrets().Update(r.Context(), cur)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret not found.")
	}
	if err != nil {
		return err
	}
	s.changed(r.Context(), ids)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) deleteSecret(w http.ResponseWriter, r *http.Request, c policy.Caller, sec *barbican.Secret) error {
	if !canWrite(c, secretOwner(sec)) {
		return forbidden("Secret deletion")
	}
	var ids []string
	err := s.opts.Store.Update(r.Context(), func(tx store.Tx) error {
		var err error
		if ids, err = holders(r.Context(), tx, sec.ID); err != nil {
			return err
		}
		return tx.Secrets().Delete(r.Context(), sec.ID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret not found.")
	}
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", sec.ID, err)
	}
	s.changed(r.Context(), ids)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
