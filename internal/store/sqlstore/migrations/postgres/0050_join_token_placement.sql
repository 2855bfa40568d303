-- A join token binds the availability zone and agent group of the agent it
-- enrolls ('' = the defaults); the server stamps them into the agent record.
ALTER TABLE join_tokens ADD COLUMN availability_zone TEXT NOT NULL DEFAULT '';
ALTER TABLE join_tokens ADD COLUMN agent_group TEXT NOT NULL DEFAULT '';
