import fp from 'fastify-plugin'
import type { UnverifiedAccountClaim } from '../accounts/unverified-account-claim.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { EmailTokens } from '../email-tokens/email-tokens.ts'
import { Errors } from '../errors.ts'
import type { ClientKind, MailOutbox as OutboxRow, PrismaClient, User } from '../generated/prisma/client.ts'
import type { MailOutbox } from '../mail/outbox.ts'
import { passwordResetMail } from '../mail/templates.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { IssuedTokens, RequestMeta, SessionsService } from '../sessions/sessions-service.ts'
import type { RateLimits } from '../rate-limits/rate-limits.ts'
import type { PasswordHasher } from '../users/password-hasher.ts'
import { assertAcceptablePassword } from '../users/password-policy.ts'
import { normaliseEmail } from '../users/users-service.ts'

/** The path of the server's page a reset link opens (src/email-links/routes.ts). */
export const RESET_PATH = '/email/reset-password'

type ResetConfig = Pick<Config, 'PUBLIC_URL' | 'APP_NAME' | 'PASSWORD_RESET_TTL_SECONDS' | 'PASSWORD_MIN_LENGTH'>

/**
 * Password reset by a single-use link mailed to the address (30 minutes by default).
 *
 * No enumeration: requestPasswordReset does the same work for every well-formed address, account or not (two
 * rate-limit counters and one outbox row), and answers true. Whether the address has an account is decided later
 * by the mail worker, which mails only an existing, enabled account; the requester cannot observe that step.
 */
export class PasswordReset {
  readonly #prisma: PrismaClient
  readonly #tokens: EmailTokens
  readonly #outbox: MailOutbox
  readonly #passwords: PasswordHasher
  readonly #sessions: SessionsService
  readonly #claim: UnverifiedAccountClaim
  readonly #limits: RateLimits
  readonly #events: AuditLog
  readonly #clock: Clock
  readonly #config: ResetConfig

  constructor (deps: {
    prisma: PrismaClient,
    emailTokens: EmailTokens,
    mailOutbox: MailOutbox,
    passwords: PasswordHasher,
    sessions: SessionsService,
    unverifiedAccountClaim: UnverifiedAccountClaim,
    rateLimits: RateLimits,
    auditLog: AuditLog,
    clock: Clock,
    config: ResetConfig
  }) {
    this.#prisma = deps.prisma
    this.#tokens = deps.emailTokens
    this.#outbox = deps.mailOutbox
    this.#passwords = deps.passwords
    this.#sessions = deps.sessions
    this.#claim = deps.unverifiedAccountClaim
    this.#limits = deps.rateLimits
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#config = deps.config
    this.#outbox.register('PASSWORD_RESET', async (row) => await this.#compose(row))
  }

  /** requestPasswordReset: always true (or RATE_LIMITED, counted per address whether it has an account or not). */
  async request (rawEmail: string, meta: RequestMeta & { ip: string }): Promise<true> {
    const email = normaliseEmail(rawEmail)
    // Per address asked for, whether or not an account has it: RATE_LIMITED says nothing about the account.
    await this.#limits.consume('passwordResetPerIp', { ip: meta.ip })
    await this.#limits.consume('passwordResetPerEmail', { account: email })
    // No lookup here: the same statements run for an address with and without an account.
    await this.#outbox.enqueue('PASSWORD_RESET', { email }, this.#config.PASSWORD_RESET_TTL_SECONDS)
    return true
  }

  async #compose (row: OutboxRow) {
    if (row.email == null) return null
    const user = await this.#prisma.user.findUnique({ where: { email: row.email } })
    if (user == null || user.disabledAt != null || user.deletionRequestedAt != null) return null
    const ttlSeconds = this.#config.PASSWORD_RESET_TTL_SECONDS
    const { id, token } = await this.#tokens.mint(user.id, 'PASSWORD_RESET', user.email, ttlSeconds)
    await this.#events.record('PASSWORD_RESET_REQUESTED', { userId: user.id })
    const link = new URL(RESET_PATH, this.#config.PUBLIC_URL)
    link.searchParams.set('token', token)
    return { tokenId: id, message: passwordResetMail({ to: user.email, appName: this.#config.APP_NAME, link: link.href, ttlSeconds }) }
  }

  /**
   * resetPassword: sets the new password, verifies the address (the link proved it), ends every session and every
   * other pending reset (then `signIn` starts the calling client's session; the server's own page signs nobody in). On an account
   * that never verified its address, this is its owner claiming it (UnverifiedAccountClaim): linked identities
   * that the first registrant set go too.
   */
  async reset (token: string, newPassword: string, meta: RequestMeta): Promise<User> {
    // The policy is checked before the token is spent: a refused password must not burn the link.
    const pending = await this.#tokens.peek(token, 'PASSWORD_RESET')
    assertAcceptablePassword(newPassword, this.#config.PASSWORD_MIN_LENGTH, pending.email)
    const passwordHash = await this.#passwords.hash(newPassword)
    const spent = await this.#tokens.spend(token, 'PASSWORD_RESET')
    const current = await this.#prisma.user.findUnique({ where: { id: spent.userId } })
    if (current == null || current.email !== spent.email) throw Errors.emailTokenInvalid()
    if (current.disabledAt != null || current.deletionRequestedAt != null) throw Errors.userDisabled()

    let user = current.emailVerified ? null : await this.#claim.claim({ email: current.email, method: 'password_reset', credentials: { passwordHash }, meta })
    if (user == null) {
      user = await this.#prisma.user.update({ where: { id: current.id }, data: { passwordHash, passwordChangedAt: this.#clock.now(), emailVerified: true } })
      const revoked = await this.#sessions.revokeAll(user.id, 'PASSWORD_RESET')
      await this.#tokens.voidAll(user.id, 'PASSWORD_RESET')
      await this.#events.record('PASSWORD_RESET', { userId: user.id, ...meta, detail: { sessionsRevoked: revoked } })
    }
    // Failed logins counted against the account came before the owner proved control of its address.
    await this.#limits.reset('loginPerAccountUntrusted', { account: user.email })
    return user
  }

  /** The session of the client that reset the password. */
  async signIn (user: User, client: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    const issued = await this.#sessions.start(user, client, meta)
    await this.#events.record('LOGIN_SUCCEEDED', { userId: user.id, sessionId: issued.session.id, ...meta, detail: { method: 'password_reset' } })
    return issued
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    passwordReset: PasswordReset
  }
}

export default fp(async (app) => {
  app.decorate('passwordReset', new PasswordReset({
    prisma: app.prisma,
    emailTokens: app.emailTokens,
    mailOutbox: app.mailOutbox,
    passwords: app.passwordHasher,
    sessions: app.sessionsService,
    unverifiedAccountClaim: app.unverifiedAccountClaim,
    rateLimits: app.rateLimits,
    auditLog: app.auditLog,
    clock: app.clock,
    config: app.config
  }))
}, { name: 'password-reset', dependencies: ['prisma', 'email-tokens', 'mail-outbox', 'passwords', 'sessions', 'unverified-account-claim', 'rate-limits', 'audit-log'] })
