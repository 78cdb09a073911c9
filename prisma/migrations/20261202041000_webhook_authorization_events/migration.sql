-- AlterTable: an event meant for one service client (its authorization ended), not for every client acting for the user
ALTER TABLE "webhook_events" ADD COLUMN "client_id" TEXT;

-- A user's authorization of a service client ended: that client hears it, in the transaction that ended it. During an
-- account deletion (deletion_requested_at set in the same transaction) the event is `user.deleted`: the client
-- may no longer act for the user, and is told why.
CREATE FUNCTION "webhook_service_authorization_event"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  deleting boolean;
BEGIN
  SELECT "deletion_requested_at" IS NOT NULL INTO deleting FROM "users" WHERE "id" = OLD.user_id;
  INSERT INTO "webhook_events" ("id", "type", "user_id", "client_id", "data")
  VALUES (gen_random_uuid(), CASE WHEN deleting THEN 'user.deleted' ELSE 'service.authorization_revoked' END, OLD.user_id, OLD.client_id,
          jsonb_build_object('userId', OLD.user_id, 'clientId', OLD.client_id));
  RETURN NULL;
END
$$;

CREATE TRIGGER "service_authorizations_webhook_events" AFTER DELETE ON "service_authorizations"
FOR EACH ROW EXECUTE FUNCTION "webhook_service_authorization_event"();
