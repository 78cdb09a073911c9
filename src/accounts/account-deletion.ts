import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import { AppError, ErrorCodes, Errors } from '../errors.ts'
import { isDatabaseUnavailable } from '../db/prisma-errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { GmailConnections } from '../gmail/gmail-connections.ts'
import type { AuditLog, SecurityEventType } from '../audit-log/audit-log.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'
import { revocation } from '../sessions/live-session.ts'

export type DeletionRequester = 'user' | 'operator'

/**
 * What the security log keeps of a deleted account (see README, "Account deletion"): who asked and when, from
 * which address, and that it completed, under the opaque user id only. No email, name or Google identity.
 */
export const RETAINED_AFTER_DELETION: SecurityEventType[] = ['ACCOUNT_DELETION_REQUESTED', 'ACCOUNT_DELETED']
/** How long those records are kept; `npm run admin -- prune-deletion-records` removes older ones. */
export const DELETION_RECORD_RETENTION_DAYS = 365

/**
 * Account deletion in two steps, so that a failure half-way leaves nothing live behind:
 * 1. one transaction marks the user as being deleted (and disabled), unlinks Google and Apple and ends every
 *    session: from then on no token, refresh token, password, Google or Apple sign-in reaches the account;
 * 2. the Gmail grant is revoked at Google and the vault secret deleted (either may be down), then the user's
 *    rows go (sessions, connection and events cascade or are deleted with it).
 * Step 2 is idempotent: when it fails, the account stays "deletion pending" and `finish` runs it again
 * (`npm run admin -- delete-user` or `finish-deletions`): the user's own sessions are gone, so the user cannot.
 */
export class AccountDeletion {
  readonly #prisma: PrismaClient
  readonly #gmail: GmailConnections
  readonly #events: AuditLog
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger

  constructor (deps: { prisma: PrismaClient, gmail: GmailConnections, auditLog: AuditLog, clock: Clock, log: FastifyBaseLogger }) {
    this.#prisma = deps.prisma
    this.#gmail = deps.gmail
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#log = deps.log
  }

  /** Both steps; a failure in step 2 is answered with `reason: DELETION_PENDING` and the original code. */
  async delete (userId: string, requestedBy: DeletionRequester, meta: RequestMeta = {}): Promise<void> {
    await this.request(userId, requestedBy, meta)
    try {
      await this.finish(userId)
    } catch (err) {
      this.#log.warn({ err, userId }, 'account deletion pending: finishing it failed')
      const code = err instanceof AppError ? err.code : isDatabaseUnavailable(err) ? ErrorCodes.DATABASE_UNAVAILABLE : ErrorCodes.INTERNAL
      throw Errors.deletionPending(code)
    }
  }

  /** Step 1. Returns false when the user does not exist (or is already gone). */
  async request (userId: string, requestedBy: DeletionRequester, meta: RequestMeta = {}): Promise<boolean> {
    const now = this.#clock.now()
    const user = await this.#prisma.user.findUnique({ where: { id: userId }, select: { disabledAt: true, deletionRequestedAt: true } })
    if (user == null) return false
    const [, sessions] = await this.#prisma.$transaction([
      this.#prisma.user.update({
        where: { id: userId },
        // Unlinked at once: the Google or Apple account is free for anyone (or this person) to sign up with again.
        // Nothing is revoked at Apple: we keep no Apple token (the ID token is all we read; the web flow's
        // access and refresh tokens from Apple's token endpoint are dropped unread), so there is none to revoke.
        data: { deletionRequestedAt: user.deletionRequestedAt ?? now, disabledAt: user.disabledAt ?? now, googleSub: null, appleSub: null, appleEmailDisabledAt: null }
      }),
      this.#prisma.session.updateMany({
        where: { userId, revokedAt: null },
        data: revocation(now, 'ACCOUNT_DELETED')
      }),
      // No app may act for a departing user, even while the rest of the deletion is pending (the row cascade
      // would remove these only at the end).
      this.#prisma.serviceAuthorization.deleteMany({ where: { userId } })
    ])
    if (user.deletionRequestedAt == null) {
      await this.#events.record('ACCOUNT_DELETION_REQUESTED', { userId, ...meta, detail: { userId, requestedBy, sessionsRevoked: sessions.count } })
    }
    return true
  }

  /** Step 2, for a user whose deletion was requested. Safe to run again after any failure. */
  async finish (userId: string): Promise<{ gmailGrantRevoked: boolean }> {
    const user = await this.#prisma.user.findUnique({ where: { id: userId }, select: { email: true, deletionRequestedAt: true } })
    if (user == null) return { gmailGrantRevoked: false }
    if (user.deletionRequestedAt == null) throw new Error('finish() on a user whose deletion was not requested')
    // Under the user's grant lock (the same as connect, refresh and disconnect): revokes at Google, deletes the
    // secret and the row, and the user with them, in one hold. A failure keeps everything, so a retry finds the grant.
    const { hadGrant: hadGmail } = await this.#gmail.removeForDeletion(userId, async (tx) => {
      await tx.securityEvent.deleteMany({ where: { userId, type: { notIn: RETAINED_AFTER_DELETION } } })
      // Failed logins and rate limits name the email without a user id: they go too.
      await tx.securityEvent.deleteMany({ where: { userId: null, detail: { path: ['email'], equals: user.email } } })
      // Sessions, retired refresh tokens and the Gmail row cascade; the retained events keep only the opaque id.
      await tx.user.deleteMany({ where: { id: userId } })
    })
    await this.#events.record('ACCOUNT_DELETED', { detail: { userId, gmailGrantRevoked: hadGmail } })
    return { gmailGrantRevoked: hadGmail }
  }

  /** Finishes every pending deletion (cron or by hand); one failing does not stop the others. */
  async finishPending (): Promise<Array<{ userId: string, done: boolean, error?: string }>> {
    const pending = await this.#prisma.user.findMany({ where: { deletionRequestedAt: { not: null } }, select: { id: true } })
    const results: Array<{ userId: string, done: boolean, error?: string }> = []
    for (const { id } of pending) {
      try {
        await this.finish(id)
        results.push({ userId: id, done: true })
      } catch (err) {
        results.push({ userId: id, done: false, error: err instanceof AppError ? err.code : 'INTERNAL' })
      }
    }
    return results
  }

  /** Removes the retained deletion records older than the retention period. */
  async pruneRecords (): Promise<number> {
    const before = new Date(this.#clock.now().getTime() - DELETION_RECORD_RETENTION_DAYS * 24 * 3600 * 1000)
    const { count } = await this.#prisma.securityEvent.deleteMany({
      where: { type: { in: RETAINED_AFTER_DELETION }, userId: null, createdAt: { lt: before } }
    })
    return count
  }
}
