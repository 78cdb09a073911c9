-- AlterTable
ALTER TABLE "gmail_connections" ADD COLUMN     "refresh_token_hash" TEXT,
ADD COLUMN     "refresh_token_prefix" TEXT;

-- CreateTable
CREATE TABLE "received_security_events" (
    "jti" TEXT NOT NULL,
    "event_types" TEXT[],
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "received_security_events_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "google_account_blocks" (
    "google_sub" TEXT NOT NULL,
    "reason" TEXT,
    "blocked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "google_account_blocks_pkey" PRIMARY KEY ("google_sub")
);

-- CreateIndex
CREATE INDEX "gmail_connections_refresh_token_prefix_idx" ON "gmail_connections"("refresh_token_prefix");

-- CreateIndex
CREATE INDEX "gmail_connections_refresh_token_hash_idx" ON "gmail_connections"("refresh_token_hash");
