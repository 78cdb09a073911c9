-- CreateEnum
CREATE TYPE "GmailConnectionState" AS ENUM ('ACTIVE', 'RECONNECT_REQUIRED', 'SCOPE_MISSING');

-- CreateTable
CREATE TABLE "gmail_connections" (
    "user_id" UUID NOT NULL,
    "state" "GmailConnectionState" NOT NULL,
    "state_reason" TEXT,
    "google_sub" TEXT NOT NULL,
    "google_email" TEXT,
    "client_id" TEXT NOT NULL,
    "granted_scopes" TEXT[],
    "missing_scopes" TEXT[],
    "access_token_expires_at" TIMESTAMPTZ(3),
    "connected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_refreshed_at" TIMESTAMPTZ(3),
    "vault_version" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "gmail_connections_pkey" PRIMARY KEY ("user_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "gmail_connections_google_sub_key" ON "gmail_connections"("google_sub");

-- AddForeignKey
ALTER TABLE "gmail_connections" ADD CONSTRAINT "gmail_connections_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
