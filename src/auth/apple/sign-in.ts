import fp from 'fastify-plugin'
import type { UnverifiedAccountClaim } from '../../accounts/unverified-account-claim.ts'
import type { AppleGateway, AppleIdentity } from '../../apple/apple-gateway.ts'
import { AppleRejectedError } from '../../apple/apple-gateway.ts'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import { sha256Hex } from '../../crypto/hashing.ts'
import { randomToken } from '../../crypto/secrets.ts'
import { isUniqueViolation } from '../../db/prisma-errors.ts'
import { Errors } from '../../errors.ts'
import type { ClientKind, PrismaClient, User } from '../../generated/prisma/client.ts'
import type { RateLimits } from '../../rate-limits/rate-limits.ts'
import type { AuditLog } from '../../audit-log/audit-log.ts'
import type { IssuedTokens, RequestMeta, SessionsService } from '../../sessions/sessions-service.ts'

/**
 * Sign in with Apple, native (signInWithApple) and web (routes.ts): users are found by Apple `sub`, never by
 * email, with Google's linking rule (src/auth/google/sign-in.ts): an email that belongs to an account with a
 * verified email not linked to this `sub` is refused (CONFLICT, ACCOUNT_EXISTS) — the owner signs in and uses
 * linkApple. An account that never verified its email is claimed by the verified Apple identity instead
 * (UnverifiedAccountClaim: account pre-hijacking), which removes the first registrant's password, links and sessions.
 *
 * Every rate limit of Sign in with Apple is spent here (rules appleStartPerIp, appleOpsPer* of
 * src/rate-limits/rate-limits.ts), so that GraphQL and the browser flow meet the same bound.
 *
 * Apple sends the email in every ID token (when the app asked for it), possibly a private-relay address
 * (`is_private_email`): it is stored like any other, since mail to it is forwarded (until Apple says
 * `email-disabled`). The person's name is never in a token: Apple gives it to the app (or in the web flow's `user`
 * form field) on the first authorization only, so it is taken then, and only to fill an empty name.
 */
export class AppleSignIn {
  readonly #prisma: PrismaClient
  readonly #apple: AppleGateway | null
  readonly #sessions: SessionsService
  readonly #events: AuditLog
  readonly #limits: RateLimits
  readonly #claim: UnverifiedAccountClaim | undefined
  readonly #clock: Clock
  readonly #config: Config

  constructor (deps: {
    prisma: PrismaClient
    apple: AppleGateway | null
    sessions: SessionsService
    auditLog: AuditLog
    rateLimits: RateLimits
    clock: Clock
    config: Config
    unverifiedAccountClaim?: UnverifiedAccountClaim
  }) {
    this.#prisma = deps.prisma
    this.#apple = deps.apple
    this.#sessions = deps.sessions
    this.#events = deps.auditLog
    this.#limits = deps.rateLimits
    this.#claim = deps.unverifiedAccountClaim
    this.#clock = deps.clock
    this.#config = deps.config
  }

  async verify (idToken: string, nonce: string | null | undefined, audiences?: string[]): Promise<AppleIdentity> {
    if (this.#apple == null) throw Errors.appleNotConfigured()
    try {
      return await this.#apple.verifyIdToken(idToken, { nonce, ...(audiences != null ? { audiences } : {}) })
    } catch (err) {
      if (err instanceof AppleRejectedError) throw Errors.appleIdTokenInvalid()
      throw err
    }
  }

  /** Native flow: verifies the ID token (aud one of APPLE_CLIENT_IDS, nonce when given), then find-or-create and a session. */
  async signIn (idToken: string, nonce: string | null | undefined, name: string | null | undefined, client: ClientKind, meta: RequestMeta & { ip: string }): Promise<IssuedTokens> {
    // Each call may fetch Apple's keys and create a user: bounded per address.
    await this.#limits.consume('appleOpsPerIp', { ip: meta.ip })
    const user = await this.findOrCreate(await this.verify(idToken, nonce), name, meta)
    return await this.startSession(user, client, meta)
  }

  /**
   * Web flow, start: a single-use state (stored as its SHA-256) and the nonce kept with it, both 256 random bits.
   * Each start writes a row: bounded per client IP, and expired rows are swept here.
   */
  async startWeb (redirectTo: string, meta: RequestMeta & { ip: string }): Promise<{ state: string, nonce: string }> {
    await this.#limits.consume('appleStartPerIp', { ip: meta.ip })
    const now = this.#clock.now()
    await this.#prisma.oAuthState.deleteMany({ where: { expiresAt: { lt: now } } })
    const state = randomToken()
    const nonce = randomToken()
    await this.#prisma.oAuthState.create({
      data: { id: sha256Hex(state), provider: 'apple', codeVerifier: '', nonce, redirectTo, gmail: false, expiresAt: new Date(now.getTime() + this.#config.AUTH_STATE_TTL_SECONDS * 1000) }
    })
    return { state, nonce }
  }

  /**
   * Web flow, callback (state already checked by the route): the code is spent at Apple's token endpoint and the
   * ID token it returns (never one from the form) must carry the state's nonce and our Services ID as `aud`.
   */
  async completeWeb (code: string, nonce: string, name: string | null, meta: RequestMeta & { ip: string }): Promise<IssuedTokens> {
    if (this.#apple == null) throw Errors.appleNotConfigured()
    await this.#limits.consume('appleOpsPerIp', { ip: meta.ip })
    const { idToken } = await this.#apple.exchangeCode(code)
    const user = await this.findOrCreate(await this.verify(idToken, nonce, [this.#config.APPLE_WEB_CLIENT_ID!]), name, meta)
    return await this.startSession(user, 'WEB', meta)
  }

  /** The user of a verified Apple identity, by `sub`; created when new (see the linking rule above). */
  async findOrCreate (identity: AppleIdentity, name: string | null | undefined, meta: RequestMeta): Promise<User> {
    let user = await this.#prisma.user.findUnique({ where: { appleSub: identity.sub } }) ?? await this.#create(identity, name, meta)
    if (user.disabledAt != null) throw Errors.googleAccountDisabled()
    const given = cleanName(name)
    if (user.name == null && given != null) user = await this.#prisma.user.update({ where: { id: user.id }, data: { name: given } })
    return user
  }

  async startSession (user: User, client: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    const issued = await this.#sessions.start(user, client, meta)
    await this.#events.record('LOGIN_SUCCEEDED', { userId: user.id, sessionId: issued.session.id, ...meta, detail: { method: 'apple' } })
    return issued
  }

  async #create (identity: AppleIdentity, name: string | null | undefined, meta: RequestMeta): Promise<User> {
    if (identity.email == null) throw Errors.appleEmailMissing()
    // Apple verifies every address it hands out (relay ones included); an unverified one is not used to claim an email.
    if (!identity.emailVerified) throw Errors.appleEmailUnverified()
    // Normalised like sign-up's, or the claim below would miss an account registered as "Bob@…".
    const email = identity.email.trim().toLowerCase()
    try {
      const user = await this.#prisma.user.create({ data: { email, emailVerified: true, name: cleanName(name), appleSub: identity.sub } })
      await this.#events.record('SIGN_UP', { userId: user.id, ...meta, detail: { method: 'apple', privateEmail: identity.isPrivateEmail } })
      return user
    } catch (err) {
      if (isUniqueViolation(err)) {
        const created = await this.#prisma.user.findUnique({ where: { appleSub: identity.sub } })
        if (created != null) return created
        // The address is held by another account: the owner's verified Apple identity claims it if it never verified it.
        const claimed = await this.#claim?.claim({ email, method: 'apple', credentials: { appleSub: identity.sub, name: cleanName(name) }, meta })
        if (claimed != null) return claimed
        await this.#events.record('APPLE_LINK_REFUSED', { ...meta, detail: { reason: Errors.appleAccountExists.reason } })
        throw Errors.appleAccountExists()
      }
      throw err
    }
  }

  /** Links the Apple account of `idToken` to the signed-in user (explicit, so never a silent takeover). */
  async link (userId: string, idToken: string, nonce: string | null | undefined, meta: RequestMeta & { ip: string }): Promise<User> {
    await this.#limits.consume('appleOpsPerIp', { ip: meta.ip })
    await this.#limits.consume('appleOpsPerAccount', { account: userId })
    const identity = await this.verify(idToken, nonce)
    const holder = await this.#prisma.user.findUnique({ where: { appleSub: identity.sub } })
    if (holder?.id === userId) return holder
    if (holder != null) return await this.#refuseLink(userId, Errors.appleLinkedToAnother, meta)
    // Only onto an account without one, conditionally: two concurrent links cannot both win.
    const { count } = await this.#prisma.user.updateMany({ where: { id: userId, appleSub: null }, data: { appleSub: identity.sub } })
    if (count === 0) return await this.#refuseLink(userId, Errors.appleAlreadyLinked, meta)
    await this.#events.record('APPLE_LINKED', { userId, ...meta, detail: { privateEmail: identity.isPrivateEmail } })
    return await this.#prisma.user.findUniqueOrThrow({ where: { id: userId } })
  }

  async #refuseLink (userId: string, error: typeof Errors.appleAlreadyLinked, meta: RequestMeta): Promise<never> {
    await this.#events.record('APPLE_LINK_REFUSED', { userId, ...meta, detail: { reason: error.reason } })
    throw error()
  }

  /** Unlinks Apple from a user who keeps another way in (a password or Google); `stepUp` runs once that is known. */
  async unlink (userId: string, meta: RequestMeta, stepUp: () => Promise<void>): Promise<User> {
    const user = await this.#prisma.user.findUniqueOrThrow({ where: { id: userId } })
    if (user.passwordHash == null && user.googleSub == null) throw Errors.signInMethodRequiredToUnlinkApple()
    await stepUp()
    if (user.appleSub == null) return user
    const updated = await this.#prisma.user.update({ where: { id: userId }, data: { appleSub: null } })
    await this.#events.record('APPLE_UNLINKED', { userId, ...meta })
    return updated
  }
}

/** A name as Apple's app or web flow hands it over: trimmed, at most 100 characters (longer is dropped, not refused). */
function cleanName (name: string | null | undefined): string | null {
  // eslint-disable-next-line no-control-regex -- control characters and U+0000 have no place in a name
  const n = name?.replace(/[\u0000-\u001f\u007f]/g, '').trim() ?? ''
  // An unpaired surrogate does not survive UTF-8 (PostgreSQL refuses it): such a name is dropped.
  return n === '' || n.length > 100 || Buffer.from(n, 'utf8').toString('utf8') !== n ? null : n
}

declare module 'fastify' {
  interface FastifyInstance {
    appleSignIn: AppleSignIn
  }
}

export default fp(async (app) => {
  app.decorate('appleSignIn', new AppleSignIn({
    prisma: app.prisma,
    apple: app.appleGateway,
    sessions: app.sessionsService,
    auditLog: app.auditLog,
    rateLimits: app.rateLimits,
    clock: app.clock,
    config: app.config,
    unverifiedAccountClaim: app.unverifiedAccountClaim
  }))
}, { name: 'apple-sign-in', dependencies: ['prisma', 'apple', 'sessions', 'audit-log', 'rate-limits', 'unverified-account-claim'] })
