import fp from 'fastify-plugin'
import { isUniqueViolation } from '../../db/prisma-errors.ts'
import { Errors } from '../../errors.ts'
import type { ClientKind, PrismaClient, User } from '../../generated/prisma/client.ts'
import type { UnverifiedAccountClaim } from '../../accounts/unverified-account-claim.ts'
import type { GoogleGateway, GoogleIdentity } from '../../google/google-gateway.ts'
import { configuredGoogle, GoogleRejectedError } from '../../google/google-gateway.ts'
import type { RateLimits } from '../../rate-limits/rate-limits.ts'
import type { AuditLog } from '../../audit-log/audit-log.ts'
import type { IssuedTokens, RequestMeta, SessionsService } from '../../sessions/sessions-service.ts'

/**
 * Sign in with Google: users are found by Google `sub`, never by email.
 *
 * Linking rule: a Google sign-in whose email belongs to an existing account with a verified email that is not
 * linked to this `sub` is refused (CONFLICT, reason ACCOUNT_EXISTS): the owner signs in with their password and
 * links Google with `linkGoogle`. Linking on a matching email would hand the account to whoever controls that
 * Google account. An account that never verified its email, though, was perhaps registered by someone else to
 * wait for the owner (account pre-hijacking): the verified Google identity claims it (UnverifiedAccountClaim),
 * which removes the first registrant's password, links and sessions. An unverified Google email is never linked
 * and never used to create or claim an account.
 */
export class GoogleSignIn {
  readonly #prisma: PrismaClient
  readonly #google: GoogleGateway | null
  readonly #sessions: SessionsService
  readonly #events: AuditLog
  readonly #claim: UnverifiedAccountClaim | undefined
  readonly #limits: RateLimits

  constructor (deps: { prisma: PrismaClient, google: GoogleGateway | null, sessions: SessionsService, auditLog: AuditLog, rateLimits: RateLimits, unverifiedAccountClaim?: UnverifiedAccountClaim }) {
    this.#prisma = deps.prisma
    this.#google = deps.google
    this.#sessions = deps.sessions
    this.#events = deps.auditLog
    this.#claim = deps.unverifiedAccountClaim
    this.#limits = deps.rateLimits
  }

  async #verify (idToken: string): Promise<GoogleIdentity> {
    if (this.#google == null) throw Errors.googleNotConfigured()
    try {
      // `aud` must be one of our clients: the web client (iOS with GIDServerClientID) or an iOS client.
      return await this.#google.verifyIdToken(idToken)
    } catch (err) {
      if (err instanceof GoogleRejectedError) throw Errors.googleIdTokenInvalid()
      throw err
    }
  }

  /** Native flow: verifies the ID token (`aud` one of our client ids), then the same find-or-create and a session. */
  async signIn (idToken: string, client: ClientKind, meta: RequestMeta & { ip: string }): Promise<IssuedTokens> {
    // Each call asks Google (its keys, and spends the project's quota): bounded per address.
    await this.#limits.consume('googleOpsPerIp', { ip: meta.ip })
    const user = await this.findOrCreate(await this.#verify(idToken), meta)
    return await this.startSession(user, client, meta)
  }

  /** The user of a verified Google identity, by `sub`; created when new (see the linking rule above). */
  async findOrCreate (identity: GoogleIdentity, meta: RequestMeta): Promise<User> {
    // Google said this account is disabled or hijacked (RISC): refused before any user is found or created.
    if (await this.#prisma.googleAccountBlock.findUnique({ where: { googleSub: identity.sub } }) != null) throw Errors.googleAccountBlocked()
    const user = (await this.#prisma.user.findUnique({ where: { googleSub: identity.sub } })) ?? await this.#create(identity, meta)
    if (user.disabledAt != null) throw Errors.googleAccountDisabled()
    return user
  }

  async startSession (user: User, client: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    const issued = await this.#sessions.start(user, client, meta)
    await this.#events.record('LOGIN_SUCCEEDED', { userId: user.id, sessionId: issued.session.id, ...meta, detail: { method: 'google' } })
    return issued
  }

  async #create (identity: GoogleIdentity, meta: RequestMeta): Promise<User> {
    if (identity.email == null || !identity.emailVerified) {
      throw Errors.googleEmailUnverified()
    }
    const email = identity.email.trim().toLowerCase()
    try {
      const user = await this.#prisma.user.create({ data: { email, emailVerified: true, name: identity.name, googleSub: identity.sub } })
      await this.#events.record('SIGN_UP', { userId: user.id, ...meta, detail: { method: 'google' } })
      return user
    } catch (err) {
      if (isUniqueViolation(err)) {
        // The same Google account signing in twice at once: the other request created it; this one signs in too.
        const created = await this.#prisma.user.findUnique({ where: { googleSub: identity.sub } })
        if (created != null) return created
        // The address is held by another account: its owner's verified identity claims it if it never verified it.
        const claimed = await this.#claim?.claim({ email, method: 'google', credentials: { googleSub: identity.sub, name: identity.name ?? null }, meta })
        if (claimed != null) return claimed
        await this.#events.record('GOOGLE_LINK_REFUSED', { ...meta, detail: { reason: Errors.googleAccountExists.reason } })
        throw Errors.googleAccountExists()
      }
      throw err
    }
  }

  /** Links the Google account of `idToken` to the signed-in user (explicit, so never a silent takeover). */
  async link (userId: string, idToken: string, meta: RequestMeta & { ip: string }): Promise<User> {
    await this.#limits.consume('googleOpsPerIp', { ip: meta.ip })
    await this.#limits.consume('googleOpsPerAccount', { account: userId })
    const identity = await this.#verify(idToken)
    const holder = await this.#prisma.user.findUnique({ where: { googleSub: identity.sub } })
    if (holder?.id === userId) return holder
    if (holder != null) return await this.#refuseLink(userId, Errors.googleLinkedToAnother, meta)
    // Only onto an account without one: replacing the linked Google account is how a session would be turned
    // into a permanent way in. Conditional, so two concurrent links cannot both win.
    const { count } = await this.#prisma.user.updateMany({ where: { id: userId, googleSub: null }, data: { googleSub: identity.sub } })
    if (count === 0) return await this.#refuseLink(userId, Errors.googleAlreadyLinked, meta)
    await this.#events.record('GOOGLE_LINKED', { userId, ...meta, detail: { googleEmail: identity.email } })
    return await this.#prisma.user.findUniqueOrThrow({ where: { id: userId } })
  }

  async #refuseLink (userId: string, error: typeof Errors.googleAlreadyLinked, meta: RequestMeta): Promise<never> {
    await this.#events.record('GOOGLE_LINK_REFUSED', { userId, ...meta, detail: { reason: error.reason } })
    throw error()
  }

  /** Unlinks Google from a user who can still sign in with a password; `stepUp` runs once that is known. */
  async unlink (userId: string, meta: RequestMeta, stepUp: () => Promise<void>): Promise<User> {
    const user = await this.#prisma.user.findUniqueOrThrow({ where: { id: userId } })
    if (user.passwordHash == null) {
      throw Errors.passwordRequiredToUnlink()
    }
    await stepUp()
    if (user.googleSub == null) return user
    const updated = await this.#prisma.user.update({ where: { id: userId }, data: { googleSub: null } })
    await this.#events.record('GOOGLE_UNLINKED', { userId, ...meta })
    return updated
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    googleSignIn: GoogleSignIn
  }
}

export default fp(async (app) => {
  app.decorate('googleSignIn', new GoogleSignIn({
    prisma: app.prisma, google: configuredGoogle(app), sessions: app.sessionsService, auditLog: app.auditLog, rateLimits: app.rateLimits, unverifiedAccountClaim: app.unverifiedAccountClaim
  }))
}, { name: 'google-sign-in', dependencies: ['prisma', 'google', 'sessions', 'audit-log', 'rate-limits', 'unverified-account-claim'] })
