-- IPAM checks an address against every allocation of it, on any subnet, before
-- it hands the address out (allocations keyed per subnet before the address
-- space was one): an index, so that check does not read every allocation.
CREATE INDEX ip_allocations_address ON ip_allocations (ip_address);
