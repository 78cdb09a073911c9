import type { Clock } from '../clock.ts'
import { AppError, ErrorCodes } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { SecurityEvents } from '../security-events/security-events.ts'
import type { Viewer } from '../sessions/live-session.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'
import type { LoginThrottle } from '../users/login-throttle.ts'
import type { PasswordHasher } from '../users/password-hasher.ts'

/** Why a step-up failed, in `extensions.reason` of REAUTH_REQUIRED. */
export const StepUpReasons = {
  /** No password given, and the last sign-in is older than REAUTH_MAX_AGE_SECONDS. */
  SIGN_IN_TOO_OLD: 'SIGN_IN_TOO_OLD',
  PASSWORD_INCORRECT: 'PASSWORD_INCORRECT',
  /** A password was given, but the account has none: sign in with Google again instead. */
  NO_PASSWORD: 'NO_PASSWORD'
} as const

export type StepUpOperation = 'linkGoogle' | 'unlinkGoogle' | 'deleteAccount'

/**
 * Recent authentication for operations that change how one signs in or that destroy data. An access token
 * proves a session, not the person: one stolen within its lifetime must not be enough to add a way in or to
 * delete the account. The last primary sign-in (`auth_time`) must be recent, or the current password given.
 */
export class StepUp {
  readonly #prisma: PrismaClient
  readonly #passwords: PasswordHasher
  readonly #throttle: LoginThrottle
  readonly #events: SecurityEvents
  readonly #clock: Clock
  readonly #maxAgeSeconds: number

  constructor (deps: { prisma: PrismaClient, passwords: PasswordHasher, loginThrottle: LoginThrottle, securityEvents: SecurityEvents, clock: Clock, maxAgeSeconds: number }) {
    this.#prisma = deps.prisma
    this.#passwords = deps.passwords
    this.#throttle = deps.loginThrottle
    this.#events = deps.securityEvents
    this.#clock = deps.clock
    this.#maxAgeSeconds = deps.maxAgeSeconds
  }

  async require (viewer: Viewer, password: string | null | undefined, operation: StepUpOperation, meta: RequestMeta & { ip: string }): Promise<void> {
    if (password != null) return await this.#checkPassword(viewer, password, operation, meta)
    // Tokens minted before `auth_time` existed count as old sign-ins.
    const age = this.#clock.now().getTime() / 1000 - (viewer.auth_time ?? 0)
    if (age <= this.#maxAgeSeconds) return
    await this.#fail(viewer, operation, StepUpReasons.SIGN_IN_TOO_OLD, meta)
  }

  async #checkPassword (viewer: Viewer, password: string, operation: StepUpOperation, meta: RequestMeta & { ip: string }): Promise<void> {
    const row = await this.#prisma.user.findUnique({ where: { id: viewer.sub }, select: { passwordHash: true } })
    if (row?.passwordHash == null) return await this.#fail(viewer, operation, StepUpReasons.NO_PASSWORD, meta)
    // The same per-IP and per-account limits as login: a stolen token must not become a password oracle.
    await this.#throttle.loginAttempt(meta.ip, viewer.user.email)
    if (!(await this.#passwords.verify(row.passwordHash, password))) {
      return await this.#fail(viewer, operation, StepUpReasons.PASSWORD_INCORRECT, meta)
    }
    await this.#throttle.loginSucceeded(viewer.user.email)
  }

  async #fail (viewer: Viewer, operation: StepUpOperation, reason: string, meta: RequestMeta): Promise<never> {
    await this.#events.record('REAUTH_FAILED', { userId: viewer.sub, sessionId: viewer.sid, ...meta, detail: { operation, reason } })
    throw new AppError(ErrorCodes.REAUTH_REQUIRED,
      reason === StepUpReasons.PASSWORD_INCORRECT
        ? 'The password is not correct'
        : 'Sign in again (or send your current password) to do this',
      { reason, maxAgeSeconds: this.#maxAgeSeconds })
  }
}
