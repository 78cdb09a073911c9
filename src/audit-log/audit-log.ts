import { schedulePeriodicJob } from '../background-jobs/periodic-job.ts'
import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Prisma } from '../generated/prisma/client.ts'

/** Every kind of event the security log records. Stable strings: dashboards and alerts match on them. */
export type SecurityEventType =
  | 'SIGN_UP'
  | 'LOGIN_SUCCEEDED'
  | 'LOGIN_FAILED'
  | 'LOGIN_RATE_LIMITED'
  | 'REFRESH_TOKEN_REUSE_DETECTED'
  | 'SESSION_EXPIRED'
  | 'LOGOUT'
  | 'LOGOUT_EVERYWHERE'
  | 'SESSION_REVOKED'
  | 'PASSWORD_CHANGED'
  | 'USER_DISABLED'
  | 'GMAIL_CONNECTED'
  | 'GMAIL_CONNECT_REFUSED'
  | 'GMAIL_ACCOUNT_SWITCHED'
  | 'GMAIL_RECONNECT_REQUIRED'
  | 'GMAIL_DISCONNECTED'
  | 'GOOGLE_LINKED'
  | 'GOOGLE_LINK_REFUSED'
  | 'GOOGLE_UNLINKED'
  | 'APPLE_LINKED'
  | 'APPLE_LINK_REFUSED'
  | 'APPLE_UNLINKED'
  /** A server-to-server notification Apple sent about the user's Apple ID; detail: { event, outcome }. */
  | 'APPLE_NOTIFICATION'
  | 'REAUTH_FAILED'
  | 'USER_ENABLED'
  | 'ACCOUNT_DELETION_REQUESTED'
  | 'ACCOUNT_DELETED'
  /** An event Google pushed about the user's Google account (Cross-Account Protection); detail: { event, outcome }. */
  | 'GOOGLE_RISC_EVENT'
  /** A Gmail access token was handed to a service client (detail: clientName, clientId, subject). */
  | 'GMAIL_TOKEN_ISSUED'
  /** The user confirmed their address through the mailed link/code. */
  | 'EMAIL_VERIFIED'
  /** A reset link was minted and mailed (recorded by the mail worker: the request itself looks the same for any address). */
  | 'PASSWORD_RESET_REQUESTED'
  /** The password was set through a reset link; every session ended. */
  | 'PASSWORD_RESET'
  /**
   * Pre-hijacking closed, the owner's side: a verified identity (detail.method: google, apple, password_reset) took
   * over the account that held its address without ever verifying it.
   */
  | 'ACCOUNT_CLAIMED_BY_VERIFIED_OWNER'
  /** The same takeover, the unverified holder's side: what was removed (password, sessions, links, pending tokens). */
  | 'UNVERIFIED_ACCESS_REMOVED'
  /** A webhook endpoint failed for WEBHOOK_DISABLE_AFTER_SECONDS and was disabled (detail: webhookId, clientId). */
  | 'WEBHOOK_ENDPOINT_DISABLED'
  /** The user authorized a service client to get their Gmail token (detail: clientName, clientId). */
  | 'SERVICE_AUTHORIZED'
  /** The user revoked a service client's authorization (detail: clientName, clientId). */
  | 'SERVICE_AUTHORIZATION_REVOKED'

export interface SecurityEventInput {
  userId?: string | null
  sessionId?: string | null
  ip?: string | null
  userAgent?: string | null
  /** Never a token, a password or a secret: this table is read by people. */
  detail?: Prisma.InputJsonValue
}

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS
/** Rows per DELETE when pruning: each statement stays short on a table that may hold millions. */
const PRUNE_BATCH_SIZE = 1000
/** How often a server prunes events older than SECURITY_EVENT_RETENTION_DAYS (and once when it starts). */
const PRUNE_INTERVAL_MS = 6 * HOUR_MS
/** How long further occurrences of a counted event may wait in memory before their count is added to the row. */
export const COUNTED_FLUSH_MS = 1000

export class AuditLog {
  readonly #prisma: PrismaClient
  readonly #clock: Clock | null
  readonly #retentionDays: number
  /** Counted events whose row this process has written, by aggregate key, with the start of their hour. */
  readonly #written = new Map<string, number>()
  /** Occurrences not yet added to their row, by aggregate key. */
  readonly #pending = new Map<string, number>()
  #timer: NodeJS.Timeout | null = null
  #flushing: Promise<void> | null = null

  constructor (prisma: PrismaClient, clock: Clock | null = null, retentionDays = 365) {
    this.#prisma = prisma
    this.#clock = clock
    this.#retentionDays = retentionDays
  }

  /**
   * An event that may happen many times a minute (a backend exchanging tokens for a user, an attacker hammering a
   * rate-limited login): one row per type, user (if any), `group` (say, the client, or the limit and its key) and
   * hour, with a count. The first occurrence in this process writes (or adds 1 to)
   * the row before returning, so the user's log shows the event at once; later ones are added in memory and
   * written within COUNTED_FLUSH_MS, one statement per row, and at close. A crash may lose at most that second's
   * count, never the event itself. The row keeps the first occurrence's ip, user agent and detail.
   */
  async recordCounted (type: SecurityEventType, group: string, input: SecurityEventInput): Promise<void> {
    const now = (this.#clock?.now() ?? new Date()).getTime()
    const hour = now - (now % HOUR_MS)
    const key = `${type}:${input.userId ?? '-'}:${group}:${new Date(hour).toISOString()}`
    if (!this.#written.has(key)) {
      await this.#add(key, 1, type, input)
      this.#written.set(key, hour)
      return
    }
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1)
    this.#timer ??= setTimeout(() => { void this.flush() }, COUNTED_FLUSH_MS).unref()
  }

  /** Adds the counts held in memory to their rows (also on close). */
  async flush (): Promise<void> {
    while (this.#flushing != null) await this.#flushing
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    const batch = [...this.#pending]
    this.#pending.clear()
    this.#flushing = (async () => {
      for (const [key, n] of batch) {
        try {
          // The row exists (written by the first occurrence); if the user was deleted since, nothing is left to count.
          await this.#prisma.$executeRaw`UPDATE security_events SET count = count + ${n}::int WHERE aggregate_key = ${key}`
        } catch {
          // The database is away: kept for the next flush rather than lost.
          this.#pending.set(key, (this.#pending.get(key) ?? 0) + n)
        }
      }
      // Rows of past hours take no more occurrences: forget them (the map stays as small as the last hour's activity).
      const now = (this.#clock?.now() ?? new Date()).getTime()
      for (const [key, hour] of this.#written) if (hour + HOUR_MS <= now && !this.#pending.has(key)) this.#written.delete(key)
    })()
    try {
      await this.#flushing
    } finally {
      this.#flushing = null
    }
  }

  /** Creates the counted row or adds `n` to it: one statement, safe when several processes write the same row. */
  async #add (key: string, n: number, type: SecurityEventType, input: SecurityEventInput): Promise<void> {
    const detail = input.detail === undefined ? null : JSON.stringify(input.detail)
    await this.#prisma.$executeRaw`
      INSERT INTO security_events (id, type, user_id, session_id, ip, user_agent, detail, count, aggregate_key)
      VALUES (gen_random_uuid(), ${type}, ${input.userId ?? null}::uuid, ${input.sessionId ?? null}::uuid, ${input.ip ?? null},
              ${input.userAgent?.slice(0, 512) ?? null}, ${detail}::jsonb, ${n}::int, ${key})
      ON CONFLICT (aggregate_key) DO UPDATE SET count = security_events.count + EXCLUDED.count`
  }

  /**
   * Deletes events created before `before`, `batchSize` rows per statement (a short lock each, however many rows a
   * year of traffic left), until none is left. Returns how many were deleted.
   */
  /** Deletes the events older than SECURITY_EVENT_RETENTION_DAYS (by this service's clock): the background job's pass. */
  async pruneExpired (): Promise<number> {
    const now = (this.#clock?.now() ?? new Date()).getTime()
    return await this.prune(new Date(now - this.#retentionDays * DAY_MS))
  }

  async prune (before: Date, batchSize = PRUNE_BATCH_SIZE): Promise<number> {
    let total = 0
    for (;;) {
      const deleted = await this.#prisma.$executeRaw`
        DELETE FROM security_events WHERE id IN (SELECT id FROM security_events WHERE created_at < ${before} LIMIT ${batchSize}::int)`
      total += deleted
      if (deleted < batchSize) return total
    }
  }

  async record (type: SecurityEventType, input: SecurityEventInput = {}): Promise<void> {
    await this.#prisma.securityEvent.create({
      data: {
        type,
        userId: input.userId ?? null,
        sessionId: input.sessionId ?? null,
        ip: input.ip ?? null,
        userAgent: input.userAgent?.slice(0, 512) ?? null,
        detail: input.detail
      }
    })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    auditLog: AuditLog
  }
}

export default fp(async (app) => {
  const events = new AuditLog(app.prisma, app.clock, app.config.SECURITY_EVENT_RETENTION_DAYS)
  app.decorate('auditLog', events)

  // Retention (issue 21 item 9): events older than SECURITY_EVENT_RETENTION_DAYS are deleted by a background job,
  // one pass at a time, in batches. Every server runs it; concurrent passes delete disjoint or already-gone rows.
  schedulePeriodicJob(app, {
    run: async () => {
      const n = await events.pruneExpired()
      if (n > 0) app.log.info({ deleted: n }, 'pruned old security events')
    },
    firstAfterMs: 0,
    everyMs: PRUNE_INTERVAL_MS,
    failure: 'pruning old security events failed'
  })
  // Added after the prisma plugin's onClose, so it runs before it (last added, first run): counts are written.
  app.addHook('onClose', async () => { await events.flush() })
}, { name: 'audit-log', dependencies: ['prisma'] })
