-- CreateIndex
CREATE INDEX "security_events_created_at_idx" ON "security_events"("created_at");
