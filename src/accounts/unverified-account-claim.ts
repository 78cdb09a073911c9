import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import type { EmailTokens } from '../email-tokens/email-tokens.ts'
import type { Prisma, PrismaClient, User } from '../generated/prisma/client.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { RequestMeta, SessionsService } from '../sessions/sessions-service.ts'

/** How the claimant proved the address: an ID token with a verified email, or a mailed link (password reset). */
export type ClaimMethod = 'google' | 'apple' | 'password_reset'

/**
 * Every way into an account that did not come from its address's owner, cleared when the owner claims it. The
 * password and the linked identities (Google and Apple) were set by whoever registered the address first; the
 * name too. A column that adds a way in belongs here, or the squatter keeps it after the owner arrives.
 */
const UNPROVEN_CREDENTIALS = { passwordHash: null, googleSub: null, appleSub: null, appleEmailDisabledAt: null, name: null } satisfies Prisma.UserUpdateManyMutationInput

export interface AccountClaim {
  /** The address, normalised (trimmed, lower-case), that the claimant has proven to own. */
  email: string
  method: ClaimMethod
  /** What the owner brings: `{ googleSub }`, `{ appleSub }`, `{ passwordHash }`, a name … written after the unproven ones are cleared. */
  credentials: Prisma.UserUpdateManyMutationInput
  meta: RequestMeta
}

/**
 * Account pre-hijacking closed (Sudhodanan & Paverd, USENIX Security 2022): someone registers a victim's address
 * first, with a password or by linking their own Google account, and waits for the victim to use the service.
 * When a verified identity (a Google/Apple ID token whose email is verified, or a password reset through a link
 * mailed to the address) claims an address held by an account that never verified it, that account's password,
 * linked identities, sessions, pending tokens and queued mail are removed (and a Gmail grant of another Google
 * account), and the owner gets the account (verified, with the owner's credentials), recorded on both sides. An account whose email is verified is never
 * taken over: it returns null, and the caller applies its usual rules (ACCOUNT_EXISTS for a sign-in).
 *
 * The one implementation for every sign-in method (Google, Apple, password reset, email verification): call it
 * where a verified identity meets an existing address.
 */
export class UnverifiedAccountClaim {
  readonly #prisma: PrismaClient
  readonly #sessions: SessionsService
  readonly #tokens: EmailTokens
  readonly #events: AuditLog
  readonly #clock: Clock
  readonly #gmail: { disconnect: (userId: string, meta: RequestMeta) => Promise<unknown> } | null
  readonly #log: FastifyBaseLogger

  constructor (deps: {
    prisma: PrismaClient
    sessions: SessionsService
    emailTokens: EmailTokens
    auditLog: AuditLog
    clock: Clock
    gmail: { disconnect: (userId: string, meta: RequestMeta) => Promise<unknown> } | null
    log: FastifyBaseLogger
  }) {
    this.#prisma = deps.prisma
    this.#sessions = deps.sessions
    this.#tokens = deps.emailTokens
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#gmail = deps.gmail
    this.#log = deps.log
  }

  /** The account, now the claimant's; null when no account holds the address or its holder verified it. */
  async claim (claim: AccountClaim): Promise<User | null> {
    const holder = await this.#prisma.user.findUnique({ where: { email: claim.email } })
    if (holder == null || holder.emailVerified) return null
    // Conditional on still being unverified: a verification that lands meanwhile keeps the account with its holder.
    const { count } = await this.#prisma.user.updateMany({
      where: { id: holder.id, emailVerified: false },
      data: { ...UNPROVEN_CREDENTIALS, passwordChangedAt: this.#clock.now(), ...claim.credentials, emailVerified: true }
    })
    if (count === 0) return null
    // Access tokens of these sessions fail at once (the live-session check), refresh tokens too.
    const sessionsRevoked = await this.#sessions.revokeAll(holder.id, 'ACCOUNT_CLAIMED')
    const tokensVoided = await this.#tokens.voidAll(holder.id)
    await this.#prisma.mailOutbox.deleteMany({ where: { userId: holder.id } })
    const gmailDisconnected = await this.#disconnectForeignGmail(holder.id, claim.email, claim.meta)
    await this.#events.record('UNVERIFIED_ACCESS_REMOVED', {
      userId: holder.id,
      detail: {
        method: claim.method,
        passwordRemoved: holder.passwordHash != null,
        googleUnlinked: holder.googleSub != null,
        appleUnlinked: holder.appleSub != null,
        sessionsRevoked,
        tokensVoided,
        gmailDisconnected
      }
    })
    await this.#events.record('ACCOUNT_CLAIMED_BY_VERIFIED_OWNER', { userId: holder.id, ...claim.meta, detail: { method: claim.method } })
    return await this.#prisma.user.findUniqueOrThrow({ where: { id: holder.id } })
  }

  /**
   * A Gmail grant of another Google account than the claimed address is not the owner's (the first registrant
   * connected their own mailbox): revoked and deleted, so the owner is never handed someone else's mail. A grant
   * for the claimed address itself is the owner's own mailbox and stays. Best effort (Google or the vault may be
   * down): the claim stands, and the failure is logged for an operator.
   */
  async #disconnectForeignGmail (userId: string, email: string, meta: RequestMeta): Promise<boolean> {
    if (this.#gmail == null) return false
    const connection = await this.#prisma.gmailConnection.findUnique({ where: { userId }, select: { googleEmail: true } })
    if (connection == null || connection.googleEmail?.toLowerCase() === email) return false
    try {
      await this.#gmail.disconnect(userId, meta)
      return true
    } catch (err) {
      this.#log.error({ userId, err: { code: (err as { code?: unknown }).code } }, 'claimed account: the unverified holder\'s Gmail grant could not be removed; run disconnect again')
      return false
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    unverifiedAccountClaim: UnverifiedAccountClaim
  }
}

export default fp(async (app) => {
  app.decorate('unverifiedAccountClaim', new UnverifiedAccountClaim({
    prisma: app.prisma,
    sessions: app.sessionsService,
    emailTokens: app.emailTokens,
    auditLog: app.auditLog,
    clock: app.clock,
    gmail: app.gmailConnections,
    log: app.log
  }))
}, { name: 'unverified-account-claim', dependencies: ['prisma', 'sessions', 'email-tokens', 'audit-log', 'gmail'] })
