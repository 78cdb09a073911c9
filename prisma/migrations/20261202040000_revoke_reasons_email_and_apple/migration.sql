-- AlterEnum: the revoke reasons of the email flows (password reset, an unverified account claimed by its verified owner)
ALTER TYPE "RevokeReason" ADD VALUE 'PASSWORD_RESET';
ALTER TYPE "RevokeReason" ADD VALUE 'ACCOUNT_CLAIMED';
-- Apple's server-to-server notifications: consent revoked, account deleted
ALTER TYPE "RevokeReason" ADD VALUE 'APPLE_CONSENT_REVOKED';
ALTER TYPE "RevokeReason" ADD VALUE 'APPLE_ACCOUNT_DELETED';
