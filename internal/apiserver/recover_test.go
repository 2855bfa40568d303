package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/apiserver"
	"github.com/fulcrumlb/fulcrum/internal/network"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// panickyStore panics in every transaction, standing in for any bug below
// the handlers.
type panickyStore struct{}

func (panickyStore) Update(context.Context, func(store.Tx) error) error { panic("boom") }
func (panickyStore) View(context.Context, func(store.Tx) error) error   { panic("boom") }
func (panickyStore) Close() error                                       { return nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPanicBecomesLogged500: a panic is answered with a 500 fault and logged
// with the request id and the stack; the server keeps serving.
func TestPanicBecomesLogged500(t *testing.T) {
	var logs syncBuffer
	srv := apiserver.New(apiserver.Options{Store: panickyStore{}, VIPs: network.NewNoop(), Providers: []string{"noop"},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).Handler()
	for i := 0; i < 2; i++ {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/lbaas/loadbalancers", nil))
		var f map[string]any
		if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &f) != nil || f["faultcode"] != "Server" || f["faultstring"] != "Internal Server Error" {
			t.Fatalf("got %d %s, want a 500 fault", rec.Code, rec.Body)
		}
		id := rec.Header().Get("X-Openstack-Request-Id")
		var found bool
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"panic serving request"`) && strings.Contains(line, `"request_id":"`+id+`"`) && strings.Contains(line, "boom") && strings.Contains(line, "goroutine") {
				found = true
			}
		}
		if !found {
			t.Fatalf("no panic log line with request id %s and a stack in:\n%s", id, logs.String())
		}
	}
}
