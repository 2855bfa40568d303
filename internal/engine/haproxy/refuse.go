package haproxy

import "github.com/fulcrumlb/fulcrum/internal/dataplane"

// refuse returns the FieldErrors of cfg (already valid for the contract) that this engine
// cannot carry (dataplane.Config.CheckEngine), joined, or nil: each names the field, so the
// agent refuses only the load balancer that asked for it; nothing is dropped silently.
func refuse(cfg *dataplane.Config) error { return cfg.CheckEngine(dataplane.EngineHAProxy) }
