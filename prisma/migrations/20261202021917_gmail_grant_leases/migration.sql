-- CreateTable
CREATE TABLE "gmail_grant_leases" (
    "user_id" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "gmail_grant_leases_pkey" PRIMARY KEY ("user_id")
);
