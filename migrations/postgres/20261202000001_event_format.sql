-- Channel events record a change in no protocol's shape (src/store/change.rs). Rows written before
-- this migration hold the v1 frame's data: format 1. This release writes format 2, which keeps every
-- field of format 1 where it was, so old rows are read as they are (no rewrite of the log).
ALTER TABLE channel_events ADD COLUMN format SMALLINT NOT NULL DEFAULT 1;
