package haproxy_test

import (
	"github.com/fulcrumlb/fulcrum/internal/agent"
	"github.com/fulcrumlb/fulcrum/internal/engine/haproxy"
)

// The agent drives this engine through its Engine interface unchanged.
var _ agent.Engine = (*haproxy.Engine)(nil)
