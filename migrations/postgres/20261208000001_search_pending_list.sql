-- A GIN index takes new entries into a pending list and merges the list into the index when it
-- passes gin_pending_list_limit (4 MB by default), inside whichever INSERT crosses it. At the chat
-- mix's rate that was one post every ~30 000 holding its channel's row lock for 135–166 ms while it
-- merged (docs/benchmarks.md). At 256 kB the merge inside a post takes under 10 ms, and a post costs
-- no more on average (measured 21 µs per insert against 31 at 4 MB; turning the list off cost 33).
ALTER INDEX idx_posts_search SET (gin_pending_list_limit = 256);
ALTER INDEX idx_posts_attachments_search SET (gin_pending_list_limit = 256);
