-- Refresh tokens are bound to the OAuth client that obtained them: another
-- client presenting one is refused. Rows from before this migration have no
-- client and stay usable by any configured client until they expire.
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT;
