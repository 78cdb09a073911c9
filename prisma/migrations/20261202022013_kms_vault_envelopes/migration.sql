-- CreateTable
CREATE TABLE "vault_envelopes" (
    "name" TEXT NOT NULL,
    "kms_key_arn" TEXT NOT NULL,
    "wrapped_key" BYTEA NOT NULL,
    "iv" BYTEA NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "tag" BYTEA NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "vault_envelopes_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE INDEX "vault_envelopes_kms_key_arn_idx" ON "vault_envelopes"("kms_key_arn");
