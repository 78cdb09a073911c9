-- AlterTable
ALTER TABLE "gmail_connections" ADD COLUMN     "grant_hash" TEXT;
