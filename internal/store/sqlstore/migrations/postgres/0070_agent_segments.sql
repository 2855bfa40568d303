-- What an agent says about itself (capabilities, the segments it is attached to, with its
-- interface and address there), kept so that a restarted or another server places
-- ACTIVE_STANDBY pairs and keeps agent addresses out of VIP allocation at once; and when a
-- pair member's VRRP instance entered its live role (the split-brain rule).
ALTER TABLE agents ADD COLUMN capabilities TEXT;
ALTER TABLE agents ADD COLUMN segments TEXT;
ALTER TABLE amphorae ADD COLUMN role_since BIGINT;
