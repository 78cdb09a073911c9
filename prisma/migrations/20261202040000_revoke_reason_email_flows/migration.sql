-- AlterEnum: the revoke reasons of the email flows (password reset, an unverified account claimed by its verified owner)
ALTER TYPE "RevokeReason" ADD VALUE 'PASSWORD_RESET';
ALTER TYPE "RevokeReason" ADD VALUE 'ACCOUNT_CLAIMED';
