-- One row the store rewrites to find out whether it can write again after
-- a write failed for lack of space (or a read-only or failing disk).
CREATE TABLE store_write_probe (
    id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL,
    written_at BIGINT NOT NULL
);
