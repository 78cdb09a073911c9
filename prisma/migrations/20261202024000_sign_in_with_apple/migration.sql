-- AlterTable
ALTER TABLE "users" ADD COLUMN     "apple_email_disabled_at" TIMESTAMPTZ(3),
ADD COLUMN     "apple_email_event_at" TIMESTAMPTZ(3),
ADD COLUMN     "apple_sub" TEXT;

-- AlterTable
ALTER TABLE "oauth_states" ADD COLUMN     "provider" TEXT NOT NULL DEFAULT 'google';

-- CreateIndex
CREATE UNIQUE INDEX "users_apple_sub_key" ON "users"("apple_sub");
