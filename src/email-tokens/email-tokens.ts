import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import { sha256Base64url } from '../crypto/hashing.ts'
import { randomToken } from '../crypto/secrets.ts'
import { Errors } from '../errors.ts'
import type { EmailToken, EmailTokenPurpose, PrismaClient } from '../generated/prisma/client.ts'

/** 32 random bytes as base64url: what a genuine token looks like; anything else is refused without a query. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

/**
 * Single-use tokens mailed to a user (verification, password reset): 256 bits from the CSPRNG, kept only as their
 * SHA-256 (a database dump gives no working link), bound to the address they were sent to, deleted when used.
 * A slow hash is not needed: the token is random, not chosen by a person, so SHA-256 cannot be brute-forced.
 */
export class EmailTokens {
  readonly #prisma: PrismaClient
  readonly #clock: Clock

  constructor (deps: { prisma: PrismaClient, clock: Clock }) {
    this.#prisma = deps.prisma
    this.#clock = deps.clock
  }

  async mint (userId: string, purpose: EmailTokenPurpose, email: string, ttlSeconds: number): Promise<{ id: string, token: string }> {
    const token = randomToken(32)
    const expiresAt = new Date(this.#clock.now().getTime() + ttlSeconds * 1000)
    const row = await this.#prisma.emailToken.create({ data: { userId, purpose, email, tokenHash: sha256Base64url(token), expiresAt }, select: { id: true } })
    return { id: row.id, token }
  }

  /** The live token row, without using it (checks that must pass before it is spent, e.g. the password policy). */
  async peek (token: string, purpose: EmailTokenPurpose): Promise<EmailToken> {
    if (!TOKEN_SHAPE.test(token)) throw Errors.emailTokenInvalid()
    const row = await this.#prisma.emailToken.findUnique({ where: { tokenHash: sha256Base64url(token) } })
    if (row == null || row.purpose !== purpose) throw Errors.emailTokenInvalid()
    if (row.expiresAt <= this.#clock.now()) {
      await this.#prisma.emailToken.deleteMany({ where: { id: row.id } })
      throw Errors.emailTokenExpired()
    }
    return row
  }

  /** Spends a token: exactly one of two concurrent uses wins (a conditional delete), the other is refused. */
  async spend (token: string, purpose: EmailTokenPurpose): Promise<EmailToken> {
    const row = await this.peek(token, purpose)
    const { count } = await this.#prisma.emailToken.deleteMany({ where: { id: row.id } })
    if (count === 0) throw Errors.emailTokenInvalid()
    return row
  }

  /** Voids a user's pending tokens (of one purpose, or all). */
  async voidAll (userId: string, purpose?: EmailTokenPurpose): Promise<number> {
    const { count } = await this.#prisma.emailToken.deleteMany({ where: { userId, ...(purpose != null ? { purpose } : {}) } })
    return count
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    emailTokens: EmailTokens
  }
}

export default fp(async (app) => {
  app.decorate('emailTokens', new EmailTokens({ prisma: app.prisma, clock: app.clock }))
}, { name: 'email-tokens', dependencies: ['prisma'] })
