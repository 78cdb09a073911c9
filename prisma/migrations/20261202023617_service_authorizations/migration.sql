-- AlterTable
ALTER TABLE "service_clients" ADD COLUMN     "all_users" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "service_authorizations" (
    "user_id" UUID NOT NULL,
    "client_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "service_authorizations_pkey" PRIMARY KEY ("user_id","client_id")
);

-- CreateIndex
CREATE INDEX "service_authorizations_client_id_idx" ON "service_authorizations"("client_id");

-- AddForeignKey
ALTER TABLE "service_authorizations" ADD CONSTRAINT "service_authorizations_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_authorizations" ADD CONSTRAINT "service_authorizations_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "service_clients"("id") ON DELETE CASCADE ON UPDATE CASCADE;
