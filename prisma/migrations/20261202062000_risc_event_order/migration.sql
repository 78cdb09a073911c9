-- CreateTable
CREATE TABLE "risc_event_order" (
    "google_sub" TEXT NOT NULL,
    "family" TEXT NOT NULL,
    "last_iat" TIMESTAMPTZ(3) NOT NULL,
    "last_jti" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "risc_event_order_pkey" PRIMARY KEY ("google_sub","family")
);
