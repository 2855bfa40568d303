package snapshot

import (
	"slices"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// AgentInfo is what an agent last said about itself in a heartbeat: its capabilities and
// the segments it is attached to. The Cache keeps it in memory only: after a server restart
// an agent's first heartbeat (within a second) fills it in again, and placements already
// made are in the store. Shared keeps it in the agent's head in the store, so that the
// leader knows it whichever server the heartbeat reached.
type AgentInfo struct {
	Capabilities []string            `json:"capabilities,omitempty"`
	Segments     []dataplane.Segment `json:"segments,omitempty"`
}

// Has reports whether the agent advertised capability c.
func (i AgentInfo) Has(c string) bool { return slices.Contains(i.Capabilities, c) }

type agentInfos struct {
	mu sync.Mutex
	m  map[string]AgentInfo
}

// Observe records what agent agentID's heartbeat says about itself (the health manager
// calls it with heartbeats that passed its checks).
func (c *Cache) Observe(agentID string, hb *dataplane.Heartbeat) {
	c.agents.mu.Lock()
	defer c.agents.mu.Unlock()
	if c.agents.m == nil {
		c.agents.m = map[string]AgentInfo{}
	}
	c.agents.m[agentID] = AgentInfo{Capabilities: slices.Clone(hb.Capabilities), Segments: slices.Clone(hb.Segments)}
}

// Agent returns what agent agentID last said about itself, and whether it said anything
// since the server started.
func (c *Cache) Agent(agentID string) (AgentInfo, bool) {
	c.agents.mu.Lock()
	defer c.agents.mu.Unlock()
	i, ok := c.agents.m[agentID]
	return i, ok
}
