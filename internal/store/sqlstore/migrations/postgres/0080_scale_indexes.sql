-- IPAM checks an address against every allocation of it, on any subnet, before
-- it hands the address out (allocations keyed per subnet before the address
-- space was one): an index, so that check does not read every allocation.
CREATE INDEX ip_allocations_address ON ip_allocations (ip_address);

-- An acknowledgement prunes the agent's withdrawals (fragments without a config) up to the
-- version it acknowledges: an index of those alone, so it does not walk every fragment of
-- the agent (one per load balancer) to find the few tombstones.
CREATE INDEX agent_fragments_withdrawn ON agent_fragments (agent_id, version) WHERE config IS NULL;
