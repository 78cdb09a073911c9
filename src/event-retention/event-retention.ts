import { schedulePeriodicJob } from '../background-jobs/periodic-job.ts'
import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'

/** Pub/Sub redelivers an unacknowledged message for at most 7 days: a messageId older than that cannot come again. */
export const PUBSUB_MESSAGE_RETENTION_MS = 7 * 86_400_000
/**
 * Rows per DELETE statement. Each statement is its own short transaction (no pass holds a lock for long, nor the
 * rows of another process: candidates are taken FOR UPDATE SKIP LOCKED).
 */
export const PRUNE_BATCH = 1_000
/** Statements per table per pass; what is left waits for the next pass instead of keeping a connection busy. */
const MAX_BATCHES_PER_PASS = 50
const PASS_EVERY_MS = 3_600_000
/** The first pass waits a little after start-up, off the boot's busiest seconds. */
const FIRST_PASS_AFTER_MS = 60_000

/**
 * A RISC Security Event Token is refused once its `iat` is RISC_MAX_EVENT_AGE_SECONDS old, and one issued more than
 * 5 minutes in the future is refused too (src/google/risc/risc-verifier.ts): a jti received longer ago than that, plus a
 * day of margin, cannot be accepted again, so its dedupe row has done its job.
 */
const RISC_JTI_MARGIN_MS = 86_400_000

export interface PruneResult {
  pubsubMessages: number
  riscEventIds: number
  webhookDeliveries: number
  webhookEvents: number
}

/**
 * Retention of the event tables (docs/events.md, "Retention"), which otherwise grow with every push and delivery:
 * Pub/Sub messageIds (the dedupe of /google/pubsub) after 7 days; Google RISC jtis (the dedupe of /google/risc)
 * once their SET is too old to be accepted again; delivered and given-up (FAILED) webhook deliveries
 * after WEBHOOK_RETENTION_DAYS; then events that were fanned out that long ago and have no delivery left. A PENDING
 * delivery (a retry waiting, a replay) is never pruned, nor its event, nor an event not yet fanned out.
 */
export class EventRetention {
  readonly #prisma: PrismaClient
  readonly #clock: Clock
  readonly #retentionMs: number
  readonly #log: FastifyBaseLogger

  readonly #riscJtiMs: number

  constructor (deps: { prisma: PrismaClient, clock: Clock, webhookRetentionDays: number, riscMaxEventAgeSeconds: number, log: FastifyBaseLogger }) {
    this.#prisma = deps.prisma
    this.#clock = deps.clock
    this.#retentionMs = deps.webhookRetentionDays * 86_400_000
    this.#riscJtiMs = deps.riscMaxEventAgeSeconds * 1000 + RISC_JTI_MARGIN_MS
    this.#log = deps.log
  }

  async prune (batch = PRUNE_BATCH): Promise<PruneResult> {
    const now = this.#clock.now().getTime()
    const pubsubBefore = new Date(now - PUBSUB_MESSAGE_RETENTION_MS)
    const webhookBefore = new Date(now - this.#retentionMs)
    const riscBefore = new Date(now - this.#riscJtiMs)
    const result: PruneResult = {
      pubsubMessages: await this.#batched(batch, async () => await this.#prisma.$executeRaw`
        DELETE FROM "pubsub_messages" WHERE "message_id" IN (
          SELECT "message_id" FROM "pubsub_messages" WHERE "received_at" < ${pubsubBefore}
          LIMIT ${batch} FOR UPDATE SKIP LOCKED)`),
      // Google's RISC jtis only: Apple's notifications (`apple:` keys, same table) carry no age bound, so their
      // dedupe rows are what refuses a replay and are kept.
      riscEventIds: await this.#batched(batch, async () => await this.#prisma.$executeRaw`
        DELETE FROM "received_security_events" WHERE "jti" IN (
          SELECT "jti" FROM "received_security_events" WHERE "received_at" < ${riscBefore} AND "jti" NOT LIKE 'apple:%'
          LIMIT ${batch} FOR UPDATE SKIP LOCKED)`),
      // A settled delivery's time: delivered_at, or for a given-up one its last attempt (next_attempt_at is not
      // moved when it gives up). Both are after next_attempt_at's value, which the (state, next_attempt_at) index finds.
      webhookDeliveries: await this.#batched(batch, async () => await this.#prisma.$executeRaw`
        DELETE FROM "webhook_deliveries" WHERE "state" IN ('DELIVERED', 'FAILED') AND "id" IN (
          SELECT "id" FROM "webhook_deliveries"
          WHERE "state" IN ('DELIVERED', 'FAILED') AND "next_attempt_at" < ${webhookBefore}
            AND ("state" = 'FAILED' OR "delivered_at" < ${webhookBefore})
          LIMIT ${batch} FOR UPDATE SKIP LOCKED)`),
      // Deleting an event cascades to its deliveries: only events none is left of (pending ones keep theirs).
      webhookEvents: await this.#batched(batch, async () => await this.#prisma.$executeRaw`
        DELETE FROM "webhook_events" WHERE "id" IN (
          SELECT e."id" FROM "webhook_events" e
          WHERE e."dispatched_at" < ${webhookBefore}
            AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" d WHERE d."event_id" = e."id")
          LIMIT ${batch} FOR UPDATE SKIP LOCKED)`)
    }
    if (Object.values(result).some((n) => n > 0)) this.#log.info(result, 'event tables pruned')
    return result
  }

  async #batched (batch: number, statement: () => Promise<number>): Promise<number> {
    let total = 0
    for (let i = 0; i < MAX_BATCHES_PER_PASS; i++) {
      const deleted = await statement()
      total += deleted
      if (deleted < batch) break
    }
    return total
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    eventRetention: EventRetention
  }
}

/** Every process prunes hourly (the statements skip each other's rows); never in admin commands (backgroundJobs). */
export default fp(async (app) => {
  const retention = new EventRetention({ prisma: app.prisma, clock: app.clock, webhookRetentionDays: app.config.WEBHOOK_RETENTION_DAYS, riscMaxEventAgeSeconds: app.config.RISC_MAX_EVENT_AGE_SECONDS, log: app.log.child({ component: 'event-retention' }) })
  app.decorate('eventRetention', retention)
  schedulePeriodicJob(app, {
    run: async () => await retention.prune(),
    firstAfterMs: FIRST_PASS_AFTER_MS,
    everyMs: PASS_EVERY_MS,
    failure: 'event retention pass failed; retrying at the next one'
  })
}, { name: 'event-retention', dependencies: ['prisma'] })
