-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "auth_time" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;
-- Sessions that existed before: their sign-in is no later than their start (never "recent" by accident).
UPDATE "sessions" SET "auth_time" = "created_at";

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "deletion_requested_at" TIMESTAMPTZ(3);
