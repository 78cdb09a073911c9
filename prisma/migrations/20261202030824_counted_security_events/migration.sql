-- AlterTable
ALTER TABLE "security_events" ADD COLUMN     "aggregate_key" TEXT,
ADD COLUMN     "count" INTEGER NOT NULL DEFAULT 1;

-- CreateIndex
CREATE UNIQUE INDEX "security_events_aggregate_key_key" ON "security_events"("aggregate_key");
