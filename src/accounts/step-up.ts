import type { Clock } from '../clock.ts'
import { Errors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { Viewer } from '../sessions/live-session.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'
import type { RateLimits } from '../rate-limits/rate-limits.ts'
import type { PasswordHasher } from '../users/password-hasher.ts'

export type StepUpOperation = 'linkGoogle' | 'unlinkGoogle' | 'linkApple' | 'unlinkApple' | 'deleteAccount' | 'authorizeService' | 'connectGmail'

/**
 * Recent authentication for operations that change how one signs in or that destroy data. An access token
 * proves a session, not the person: one stolen within its lifetime must not be enough to add a way in or to
 * delete the account. The last primary sign-in (`auth_time`) must be recent, or the current password given.
 */
/** Who is asking: the session and its primary sign-in (an access token's claims, or a session row's for the browser flow). */
export type StepUpSubject = Pick<Viewer, 'sub' | 'sid' | 'auth_time'>

export class StepUp {
  readonly #prisma: PrismaClient
  readonly #passwords: PasswordHasher
  readonly #limits: RateLimits
  readonly #events: AuditLog
  readonly #clock: Clock
  readonly #maxAgeSeconds: number

  constructor (deps: { prisma: PrismaClient, passwords: PasswordHasher, rateLimits: RateLimits, auditLog: AuditLog, clock: Clock, maxAgeSeconds: number }) {
    this.#prisma = deps.prisma
    this.#passwords = deps.passwords
    this.#limits = deps.rateLimits
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#maxAgeSeconds = deps.maxAgeSeconds
  }

  async require (viewer: StepUpSubject, password: string | null | undefined, operation: StepUpOperation, meta: RequestMeta): Promise<void> {
    if (password != null) return await this.#checkPassword(viewer, password, operation, meta)
    // Tokens minted before `auth_time` existed count as old sign-ins.
    const age = this.#clock.now().getTime() / 1000 - (viewer.auth_time ?? 0)
    if (age <= this.#maxAgeSeconds) return
    await this.#fail(viewer, operation, Errors.reauthSignInTooOld, meta)
  }

  async #checkPassword (viewer: StepUpSubject, password: string, operation: StepUpOperation, meta: RequestMeta): Promise<void> {
    const row = await this.#prisma.user.findUnique({ where: { id: viewer.sub }, select: { passwordHash: true } })
    if (row?.passwordHash == null) return await this.#fail(viewer, operation, Errors.reauthNoPassword, meta)
    // The same per-IP and per-account limits as login: a stolen token must not become a password oracle.
    // Bounded per session (a stolen token must not become a password oracle); strangers' failed logins do not count.
    await this.#limits.consume('passwordPerSession', { session: viewer.sid })
    if (!(await this.#passwords.verify(row.passwordHash, password))) {
      return await this.#fail(viewer, operation, Errors.reauthPasswordIncorrect, meta)
    }
  }

  async #fail (viewer: StepUpSubject, operation: StepUpOperation, error: typeof Errors.reauthSignInTooOld, meta: RequestMeta): Promise<never> {
    await this.#events.record('REAUTH_FAILED', { userId: viewer.sub, sessionId: viewer.sid, ...meta, detail: { operation, reason: error.reason } })
    throw error({ maxAgeSeconds: this.#maxAgeSeconds })
  }
}
