-- CreateEnum
CREATE TYPE "OAuthIntent" AS ENUM ('SIGN_IN', 'CONNECT_GMAIL');

-- AlterTable
ALTER TABLE "oauth_states" ADD COLUMN     "intent" "OAuthIntent" NOT NULL DEFAULT 'SIGN_IN',
ADD COLUMN     "session_id" UUID,
ADD COLUMN     "user_id" UUID;
