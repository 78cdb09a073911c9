import fp from 'fastify-plugin'
import { RateLimiterPrisma } from 'rate-limiter-flexible'
import type { Config } from '../config.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { clientIpKey } from '../http/client-ip.ts'
import { consume, stopLimiters } from '../users/login-throttle.ts'

/**
 * How often mail can be asked for: password resets per address and per client IP, verification mail per user. The
 * per-address limit is counted whether or not an account has the address, so RATE_LIMITED says nothing about it.
 * Built on the login throttle's helpers (database counters shared by every process) and kept to this one file so
 * the shared rate-limit module can replace it.
 */
export class MailLimits {
  readonly #resetPerEmail: RateLimiterPrisma
  readonly #resetPerIp: RateLimiterPrisma
  readonly #verificationPerUser: RateLimiterPrisma

  constructor (prisma: PrismaClient, c: Pick<Config, 'PASSWORD_RESET_MAX_PER_EMAIL' | 'PASSWORD_RESET_MAX_PER_IP' | 'VERIFICATION_EMAIL_MAX_PER_USER' | 'EMAIL_RATE_WINDOW_SECONDS'>) {
    const make = (keyPrefix: string, points: number) =>
      new RateLimiterPrisma({ storeClient: prisma, tableName: 'rateLimit', keyPrefix, points, duration: c.EMAIL_RATE_WINDOW_SECONDS })
    this.#resetPerEmail = make('reset_email', c.PASSWORD_RESET_MAX_PER_EMAIL)
    this.#resetPerIp = make('reset_ip', c.PASSWORD_RESET_MAX_PER_IP)
    this.#verificationPerUser = make('verify_user', c.VERIFICATION_EMAIL_MAX_PER_USER)
  }

  async passwordResetRequest (ip: string, email: string): Promise<void> {
    await consume(this.#resetPerIp, clientIpKey(ip))
    await consume(this.#resetPerEmail, email)
  }

  async verificationMail (userId: string): Promise<void> {
    await consume(this.#verificationPerUser, userId)
  }

  stop (): void {
    stopLimiters([this.#resetPerEmail, this.#resetPerIp, this.#verificationPerUser])
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    mailLimits: MailLimits
  }
}

export default fp(async (app) => {
  const limits = new MailLimits(app.prisma, app.config)
  app.decorate('mailLimits', limits)
  app.addHook('onClose', async () => limits.stop())
}, { name: 'mail-limits', dependencies: ['prisma'] })
