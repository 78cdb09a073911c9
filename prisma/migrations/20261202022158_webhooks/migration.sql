-- CreateEnum
CREATE TYPE "WebhookDeliveryState" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

-- AlterTable
ALTER TABLE "gmail_connections" ADD COLUMN     "history_id" TEXT,
ADD COLUMN     "watch_expires_at" TIMESTAMPTZ(3),
ADD COLUMN     "watch_renew_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "pubsub_messages" (
    "message_id" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pubsub_messages_pkey" PRIMARY KEY ("message_id")
);

-- CreateTable
CREATE TABLE "webhook_events" (
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "user_id" UUID,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dispatched_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_endpoints" (
    "id" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "event_types" TEXT[],
    "secret" TEXT NOT NULL,
    "previous_secret" TEXT,
    "previous_secret_until" TIMESTAMPTZ(3),
    "failing_since" TIMESTAMPTZ(3),
    "disabled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "id" TEXT NOT NULL,
    "event_id" UUID NOT NULL,
    "endpoint_id" TEXT NOT NULL,
    "state" "WebhookDeliveryState" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_until" TIMESTAMPTZ(3),
    "last_status" INTEGER,
    "last_error" TEXT,
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "pubsub_messages_received_at_idx" ON "pubsub_messages"("received_at");

-- CreateIndex
CREATE INDEX "webhook_events_dispatched_at_created_at_idx" ON "webhook_events"("dispatched_at", "created_at");

-- CreateIndex
CREATE INDEX "webhook_endpoints_client_id_idx" ON "webhook_endpoints"("client_id");

-- CreateIndex
CREATE INDEX "webhook_deliveries_state_next_attempt_at_idx" ON "webhook_deliveries"("state", "next_attempt_at");

-- CreateIndex
CREATE INDEX "webhook_deliveries_endpoint_id_created_at_idx" ON "webhook_deliveries"("endpoint_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "webhook_deliveries_event_id_endpoint_id_key" ON "webhook_deliveries"("event_id", "endpoint_id");

-- AddForeignKey
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "service_clients"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "webhook_events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateIndex
CREATE INDEX "gmail_connections_state_watch_renew_at_idx" ON "gmail_connections"("state", "watch_renew_at");

-- The outbox's lifecycle events, written by the database in the same transaction as the change that causes them,
-- whichever code path makes it (connect, refresh's invalid_grant, RISC, disconnect, account deletion, an admin
-- command): a crash can lose neither the change nor its event, and no caller can forget to emit one.
CREATE FUNCTION "webhook_gmail_connection_event"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.state = 'ACTIVE' THEN
      INSERT INTO "webhook_events" ("id", "type", "user_id", "data")
      VALUES (gen_random_uuid(), 'gmail.connected', NEW.user_id, jsonb_build_object('userId', NEW.user_id, 'googleEmail', NEW.google_email));
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    IF NEW.state = 'ACTIVE' AND (OLD.state <> 'ACTIVE' OR OLD.google_sub <> NEW.google_sub) THEN
      INSERT INTO "webhook_events" ("id", "type", "user_id", "data")
      VALUES (gen_random_uuid(), 'gmail.connected', NEW.user_id, jsonb_build_object('userId', NEW.user_id, 'googleEmail', NEW.google_email));
    ELSIF NEW.state = 'RECONNECT_REQUIRED' AND OLD.state <> 'RECONNECT_REQUIRED' THEN
      INSERT INTO "webhook_events" ("id", "type", "user_id", "data")
      VALUES (gen_random_uuid(), 'gmail.reconnect_required', NEW.user_id,
              jsonb_build_object('userId', NEW.user_id, 'googleEmail', NEW.google_email, 'reason', NEW.state_reason));
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO "webhook_events" ("id", "type", "user_id", "data")
    VALUES (gen_random_uuid(), 'gmail.disconnected', OLD.user_id, jsonb_build_object('userId', OLD.user_id, 'googleEmail', OLD.google_email));
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "gmail_connections_webhook_events"
AFTER INSERT OR UPDATE OF "state", "google_sub" OR DELETE ON "gmail_connections"
FOR EACH ROW EXECUTE FUNCTION "webhook_gmail_connection_event"();

CREATE FUNCTION "webhook_user_deleted_event"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "webhook_events" ("id", "type", "user_id", "data")
  VALUES (gen_random_uuid(), 'user.deleted', OLD.id, jsonb_build_object('userId', OLD.id));
  RETURN NULL;
END
$$;

CREATE TRIGGER "users_webhook_events" AFTER DELETE ON "users"
FOR EACH ROW EXECUTE FUNCTION "webhook_user_deleted_event"();
