import fp from 'fastify-plugin'
import { z } from 'zod'
import type { Clock } from '../clock.ts'
import { isUniqueViolation } from '../db/prisma-errors.ts'
import { Errors, isError, Reasons } from '../errors.ts'
import type { ClientKind, PrismaClient, User } from '../generated/prisma/client.ts'
import type { ServiceMetrics } from '../metrics/metrics.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { IssuedTokens, RequestMeta, SessionsService } from '../sessions/sessions-service.ts'
import type { RateLimitName, RateLimits, Subject } from '../rate-limits/rate-limits.ts'
import { DeviceTokens } from './device-tokens.ts'
import type { PasswordHasher } from './password-hasher.ts'
import { assertAcceptablePassword, PASSWORD_MAX_LENGTH } from './password-policy.ts'

const emailSchema = z.email().max(254)

/** Emails are compared case-insensitively: stored trimmed and lower-cased. */
export function normaliseEmail (email: string): string {
  const e = email.trim().toLowerCase()
  if (!emailSchema.safeParse(e).success) throw Errors.invalidEmail({ field: 'email' })
  return e
}

function normaliseName (name: string | null | undefined): string | null {
  const n = name?.trim() ?? ''
  if (n.length > 100) throw Errors.nameTooLong({ field: 'name' })
  return n === '' ? null : n
}

export class UsersService {
  readonly #prisma: PrismaClient
  readonly #passwords: PasswordHasher
  readonly #sessions: SessionsService
  readonly #events: AuditLog
  readonly #limits: RateLimits
  readonly #devices: DeviceTokens
  readonly #clock: Clock
  readonly #minPasswordLength: number
  readonly #metrics: Pick<ServiceMetrics, 'login'> | undefined
  readonly #verification: { queueFor: (userId: string) => Promise<void> } | undefined

  constructor (deps: {
    prisma: PrismaClient,
    passwords: PasswordHasher,
    sessions: SessionsService,
    auditLog: AuditLog,
    rateLimits: RateLimits,
    deviceTokens: DeviceTokens,
    clock: Clock,
    minPasswordLength: number,
    metrics?: Pick<ServiceMetrics, 'login'>,
    /** Queues the verification mail of a new account (src/email-verification). */
    emailVerification?: { queueFor: (userId: string) => Promise<void> }
  }) {
    this.#prisma = deps.prisma
    this.#passwords = deps.passwords
    this.#sessions = deps.sessions
    this.#events = deps.auditLog
    this.#limits = deps.rateLimits
    this.#devices = deps.deviceTokens
    this.#clock = deps.clock
    this.#minPasswordLength = deps.minPasswordLength
    this.#metrics = deps.metrics
    this.#verification = deps.emailVerification
  }

  async signUp (input: { email: string, password: string, name?: string | null }, client: ClientKind, meta: RequestMeta & { ip: string }): Promise<IssuedTokens> {
    await this.#limits.consume('signUpPerIp', { ip: meta.ip })
    const email = normaliseEmail(input.email)
    const name = normaliseName(input.name)
    assertAcceptablePassword(input.password, this.#minPasswordLength, email)
    const passwordHash = await this.#passwords.hash(input.password)
    let user: User
    try {
      user = await this.#prisma.user.create({ data: { email, name, passwordHash } })
    } catch (err) {
      if (isUniqueViolation(err)) throw Errors.emailTaken()
      throw err
    }
    await this.#events.record('SIGN_UP', { userId: user.id, ...meta })
    // Queued, not sent: an SMTP outage never fails the sign-up.
    await this.#verification?.queueFor(user.id)
    return await this.#sessions.start(user, client, meta)
  }

  async login (input: { email: string, password: string, deviceToken?: string | null }, client: ClientKind, meta: RequestMeta & { ip: string }): Promise<IssuedTokens> {
    // Overlong input is refused before hashing: Argon2 cost must not be the attacker's to choose.
    if (input.password.length > PASSWORD_MAX_LENGTH * 4 || input.email.length > 254) {
      this.#metrics?.login('failed')
      throw Errors.invalidCredentials()
    }
    const email = input.email.trim().toLowerCase()
    // A device that signed in to this account before is counted on its own (OWASP device cookies): a stranger
    // hammering the account, or sharing the owner's address, cannot lock it out.
    const device = this.#devices.verify(input.deviceToken, email)
    const limits: Array<[RateLimitName, Subject]> = device != null
      ? [['loginPerDevice', { device }]]
      : [['loginPerIp', { ip: meta.ip }], ['loginPerAccountAndAddress', { account: email, ip: meta.ip }], ['loginPerAccountUntrusted', { account: email }]]
    for (const [limit, subject] of limits) {
      try {
        await this.#limits.consume(limit, subject)
      } catch (err) {
        // Only a limit reached is recorded as one; a failing counter store is an outage, not an attack.
        if (isError(err, Errors.rateLimited)) {
          this.#metrics?.login('rate_limited')
          // Counted, not one row per attempt (issue 21 item 9): a flood of throttled attempts writes one row per
          // limit, key and hour, whose count says how many; the row keeps the first attempt's address and agent.
          await this.#events.recordCounted('LOGIN_RATE_LIMITED', this.#limits.throttledKey(limit, subject), { ...meta, detail: { email, limit } })
        }
        throw err
      }
    }
    const user = await this.#prisma.user.findUnique({ where: { email } })
    const ok = await this.#passwords.verify(user?.passwordHash, input.password)
    if (user == null || !ok) {
      this.#metrics?.login('failed')
      await this.#events.record('LOGIN_FAILED', { userId: user?.id ?? null, ...meta, detail: { email } })
      // The same answer, in the same time, for an unknown email and a wrong password (no account enumeration).
      throw Errors.invalidCredentials()
    }
    if (user.disabledAt != null) {
      this.#metrics?.login('disabled')
      await this.#events.record('LOGIN_FAILED', { userId: user.id, ...meta, detail: { reason: Reasons.USER_DISABLED } })
      throw Errors.userDisabled()
    }
    // A success clears this address's (or device's) failures on the account: the owner's own typos are forgotten.
    await this.#limits.reset(device != null ? 'loginPerDevice' : 'loginPerAccountAndAddress', { account: email, ip: meta.ip, device: device ?? undefined })
    const issued: IssuedTokens = { ...await this.#sessions.start(user, client, meta), deviceToken: input.deviceToken != null && device != null ? input.deviceToken : this.#devices.issue(email) }
    await this.#events.record('LOGIN_SUCCEEDED', { userId: user.id, sessionId: issued.session.id, ...meta })
    this.#metrics?.login('succeeded')
    return issued
  }

  /** A password change ends every session (ASVS 7.4.3) and starts a fresh one for the device that made it. */
  async changePassword (userId: string, sessionId: string, input: { currentPassword: string, newPassword: string }, client: ClientKind, meta: RequestMeta & { ip: string }): Promise<IssuedTokens> {
    const user = await this.requireActive(userId)
    // Only this session's own failures count: strangers' failed logins must not block the owner here.
    await this.#limits.consume('passwordPerSession', { session: sessionId })
    if (user.passwordHash == null || !(await this.#passwords.verify(user.passwordHash, input.currentPassword))) {
      await this.#events.record('LOGIN_FAILED', { userId, ...meta, detail: { during: 'changePassword' } })
      throw Errors.invalidCredentials()
    }
    assertAcceptablePassword(input.newPassword, this.#minPasswordLength, user.email)
    const passwordHash = await this.#passwords.hash(input.newPassword)
    const updated = await this.#prisma.user.update({ where: { id: userId }, data: { passwordHash, passwordChangedAt: this.#clock.now() } })
    const revoked = await this.#sessions.revokeAll(userId, 'PASSWORD_CHANGED')
    await this.#events.record('PASSWORD_CHANGED', { userId, ...meta, detail: { sessionsRevoked: revoked } })
    return await this.#sessions.start(updated, client, meta)
  }

  /** Disabling an account ends all its sessions (ASVS 7.4.2); its access tokens stop working at `me`. */
  async disable (userId: string): Promise<void> {
    await this.#prisma.user.update({ where: { id: userId }, data: { disabledAt: this.#clock.now() } })
    const revoked = await this.#sessions.revokeAll(userId, 'USER_DISABLED')
    await this.#events.record('USER_DISABLED', { userId, detail: { sessionsRevoked: revoked } })
  }

  /** The user behind a valid access token, as long as the account still exists and is enabled. */
  async requireActive (userId: string): Promise<User> {
    const user = await this.#prisma.user.findUnique({ where: { id: userId } })
    if (user == null || user.disabledAt != null) throw Errors.authenticationRequired()
    return user
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    usersService: UsersService
  }
}

export default fp(async (app) => {
  app.decorate('usersService', new UsersService({
    prisma: app.prisma,
    passwords: app.passwordHasher,
    sessions: app.sessionsService,
    auditLog: app.auditLog,
    rateLimits: app.rateLimits,
    deviceTokens: new DeviceTokens(app.config.jwtKeys.current.key),
    clock: app.clock,
    minPasswordLength: app.config.PASSWORD_MIN_LENGTH,
    metrics: app.metrics,
    emailVerification: app.emailVerification
  }))
}, { name: 'users', dependencies: ['prisma', 'passwords', 'sessions', 'audit-log', 'rate-limits', 'metrics', 'email-verification'] })
