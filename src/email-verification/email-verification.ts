import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import type { EmailTokens } from '../email-tokens/email-tokens.ts'
import { Errors } from '../errors.ts'
import type { MailOutbox as OutboxRow, PrismaClient, User } from '../generated/prisma/client.ts'
import type { RateLimits } from '../rate-limits/rate-limits.ts'
import type { MailOutbox } from '../mail/outbox.ts'
import { verificationMail } from '../mail/templates.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { RequestMeta } from '../sessions/sessions-service.ts'

/** The path of the server's page a verification link opens (src/email-links/routes.ts). */
export const VERIFY_PATH = '/email/verify'

type VerificationConfig = Pick<Config, 'PUBLIC_URL' | 'APP_NAME' | 'EMAIL_TOKEN_TTL_SECONDS'>

/**
 * Email verification: a sign-up queues a mail with a single-use link (the code is its `token`), and using it sets
 * `emailVerified`. The link is minted by the mail worker when it sends (see src/mail/outbox.ts), so only its hash
 * is ever stored.
 */
export class EmailVerification {
  readonly #prisma: PrismaClient
  readonly #tokens: EmailTokens
  readonly #outbox: MailOutbox
  readonly #limits: RateLimits
  readonly #events: AuditLog
  readonly #config: VerificationConfig

  constructor (deps: { prisma: PrismaClient, emailTokens: EmailTokens, mailOutbox: MailOutbox, rateLimits: RateLimits, auditLog: AuditLog, config: VerificationConfig }) {
    this.#prisma = deps.prisma
    this.#tokens = deps.emailTokens
    this.#outbox = deps.mailOutbox
    this.#limits = deps.rateLimits
    this.#events = deps.auditLog
    this.#config = deps.config
    this.#outbox.register('VERIFY_EMAIL', async (row) => await this.#compose(row))
  }

  /** Queues the verification mail of a new account (never fails the sign-up: see MailOutbox.enqueue). */
  async queueFor (userId: string): Promise<void> {
    await this.#outbox.enqueue('VERIFY_EMAIL', { userId }, this.#config.EMAIL_TOKEN_TTL_SECONDS)
  }

  /** resendVerificationEmail: false when the address is verified already (nothing to send). Rate-limited per user. */
  async resend (userId: string): Promise<boolean> {
    const user = await this.#prisma.user.findUnique({ where: { id: userId }, select: { emailVerified: true } })
    if (user == null || user.emailVerified) return false
    await this.#limits.consume('verificationMailPerUser', { account: userId })
    await this.queueFor(userId)
    return true
  }

  async #compose (row: OutboxRow) {
    if (row.userId == null) return null
    const user = await this.#prisma.user.findUnique({ where: { id: row.userId } })
    if (user == null || user.emailVerified || user.disabledAt != null || user.deletionRequestedAt != null) return null
    const ttlSeconds = this.#config.EMAIL_TOKEN_TTL_SECONDS
    const { id, token } = await this.#tokens.mint(user.id, 'VERIFY_EMAIL', user.email, ttlSeconds)
    const link = new URL(VERIFY_PATH, this.#config.PUBLIC_URL)
    link.searchParams.set('token', token)
    return { tokenId: id, message: verificationMail({ to: user.email, appName: this.#config.APP_NAME, link: link.href, ttlSeconds }) }
  }

  /** verifyEmail: spends the token and marks the address verified. Needs no session: the link may open anywhere. */
  async verify (token: string, meta: RequestMeta): Promise<User> {
    const spent = await this.#tokens.spend(token, 'VERIFY_EMAIL')
    // The token proves the address it was sent to, and only while the account still has that address.
    const { count } = await this.#prisma.user.updateMany({ where: { id: spent.userId, email: spent.email, disabledAt: null }, data: { emailVerified: true } })
    if (count === 0) throw Errors.emailTokenInvalid()
    await this.#tokens.voidAll(spent.userId, 'VERIFY_EMAIL')
    await this.#events.record('EMAIL_VERIFIED', { userId: spent.userId, ...meta })
    return await this.#prisma.user.findUniqueOrThrow({ where: { id: spent.userId } })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    emailVerification: EmailVerification
  }
}

export default fp(async (app) => {
  app.decorate('emailVerification', new EmailVerification({
    prisma: app.prisma,
    emailTokens: app.emailTokens,
    mailOutbox: app.mailOutbox,
    rateLimits: app.rateLimits,
    auditLog: app.auditLog,
    config: app.config
  }))
}, { name: 'email-verification', dependencies: ['prisma', 'email-tokens', 'mail-outbox', 'rate-limits', 'audit-log'] })
