-- CreateEnum
CREATE TYPE "RevokeReason" AS ENUM ('LOGOUT', 'LOGOUT_EVERYWHERE', 'REVOKED_BY_USER', 'REFRESH_TOKEN_REUSE', 'EXPIRED', 'PASSWORD_CHANGED', 'USER_DISABLED', 'GOOGLE_SESSIONS_REVOKED', 'GOOGLE_ACCOUNT_HIJACKED', 'ACCOUNT_DELETED');

-- AlterTable: converted in place (the generated DROP/ADD would lose every recorded reason). Every value the code
-- wrote is in the enum; anything else would make this migration fail loudly rather than be dropped.
ALTER TABLE "sessions" ALTER COLUMN "revoked_reason" TYPE "RevokeReason" USING ("revoked_reason"::"RevokeReason");
