-- Live-session notifications (src/sessions/live-session-cache.ts). Every server process caches the sessions and users
-- its authenticated requests read; a committed change to either table tells every process which entry to drop.
-- NOTIFY is delivered at commit, to every listening connection of the database, in commit order; identical payloads
-- of one transaction are sent once. The payload is the table's initial and the row's id: never a token or a secret.
CREATE FUNCTION "live_session_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('inboxgate_live_sessions', CASE TG_TABLE_NAME WHEN 'sessions' THEN 's:' ELSE 'u:' END || OLD.id::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER "sessions_live_session_notify" AFTER UPDATE OR DELETE ON "sessions"
  FOR EACH ROW EXECUTE FUNCTION "live_session_notify"();

CREATE TRIGGER "users_live_session_notify" AFTER UPDATE OR DELETE ON "users"
  FOR EACH ROW EXECUTE FUNCTION "live_session_notify"();
