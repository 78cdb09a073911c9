import fp from 'fastify-plugin'
import type { AppleGateway, AppleIdentity } from '../../apple/apple-gateway.ts'
import { AppleRejectedError } from '../../apple/apple-gateway.ts'
import { isUniqueViolation } from '../../db/prisma-errors.ts'
import { Errors } from '../../errors.ts'
import type { ClientKind, PrismaClient, User } from '../../generated/prisma/client.ts'
import type { SecurityEvents } from '../../security-events/security-events.ts'
import type { IssuedTokens, RequestMeta, SessionsService } from '../../sessions/sessions-service.ts'

/**
 * Sign in with Apple, native (signInWithApple) and web (web-flow.ts): users are found by Apple `sub`, never by
 * email, with Google's linking rule (src/auth/google/sign-in.ts): an email that belongs to an account not linked
 * to this `sub` is refused (CONFLICT, ACCOUNT_EXISTS) — the owner signs in and uses linkApple. findOrCreate is
 * the one place that decides, so that the pre-hijacking takeover can replace that refusal in one spot.
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
  readonly #events: SecurityEvents

  constructor (deps: { prisma: PrismaClient, apple: AppleGateway | null, sessions: SessionsService, securityEvents: SecurityEvents }) {
    this.#prisma = deps.prisma
    this.#apple = deps.apple
    this.#sessions = deps.sessions
    this.#events = deps.securityEvents
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
  async signIn (idToken: string, nonce: string | null | undefined, name: string | null | undefined, client: ClientKind, meta: RequestMeta): Promise<IssuedTokens> {
    const user = await this.findOrCreate(await this.verify(idToken, nonce), name, meta)
    return await this.startSession(user, client, meta)
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
    try {
      const user = await this.#prisma.user.create({ data: { email: identity.email, emailVerified: true, name: cleanName(name), appleSub: identity.sub } })
      await this.#events.record('SIGN_UP', { userId: user.id, ...meta, detail: { method: 'apple', privateEmail: identity.isPrivateEmail } })
      return user
    } catch (err) {
      if (isUniqueViolation(err)) {
        const created = await this.#prisma.user.findUnique({ where: { appleSub: identity.sub } })
        if (created != null) return created
        await this.#events.record('APPLE_LINK_REFUSED', { ...meta, detail: { reason: Errors.appleAccountExists.reason } })
        throw Errors.appleAccountExists()
      }
      throw err
    }
  }

  /** Links the Apple account of `idToken` to the signed-in user (explicit, so never a silent takeover). */
  async link (userId: string, idToken: string, nonce: string | null | undefined, meta: RequestMeta): Promise<User> {
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
  app.decorate('appleSignIn', new AppleSignIn({ prisma: app.prisma, apple: app.apple, sessions: app.sessions, securityEvents: app.securityEvents }))
}, { name: 'apple-sign-in', dependencies: ['prisma', 'apple', 'sessions', 'security-events'] })
