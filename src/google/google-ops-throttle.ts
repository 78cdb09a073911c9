import fp from 'fastify-plugin'
import { RateLimiterPrisma } from 'rate-limiter-flexible'
import { consume, stopLimiters } from '../users/login-throttle.ts'
import { clientIpKey } from '../http/client-ip.ts'

/**
 * Per-user and per-IP bounds on the operations that call Google (connectGmail, gmailProfile, signInWithGoogle,
 * linkGoogle, starting the browser sign-in). Without them junk input becomes one Google request each: it spends
 * the project's quota, and Google throttling our egress breaks sign-in for everyone. Counted per resolver call
 * (100 aliased connectGmail fields are 100 operations) in the database, like the login throttle, so every server
 * process counts together. The browser callback is not counted: it calls Google only with a single-use state
 * that a counted start created.
 */
export class GoogleOpsThrottle {
  readonly #perUser: RateLimiterPrisma
  readonly #perIp: RateLimiterPrisma

  constructor (limiters: { perUser: RateLimiterPrisma, perIp: RateLimiterPrisma }) {
    this.#perUser = limiters.perUser
    this.#perIp = limiters.perIp
  }

  /** One operation that will call Google; RATE_LIMITED (with retryAfterSeconds) beyond either limit. */
  async attempt (who: { ip: string, userId?: string | null }): Promise<void> {
    await consume(this.#perIp, clientIpKey(who.ip))
    if (who.userId != null) await consume(this.#perUser, who.userId)
  }

  stop (): void {
    stopLimiters([this.#perUser, this.#perIp])
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    googleOps: GoogleOpsThrottle
  }
}

export default fp(async (app) => {
  const c = app.config
  const make = (keyPrefix: string, points: number) =>
    new RateLimiterPrisma({ storeClient: app.prisma, tableName: 'rateLimit', keyPrefix, points, duration: 60 })
  const throttle = new GoogleOpsThrottle({
    perUser: make('google_ops_user', c.GOOGLE_OPS_PER_USER_PER_MINUTE),
    perIp: make('google_ops_ip', c.GOOGLE_OPS_PER_IP_PER_MINUTE)
  })
  app.decorate('googleOps', throttle)
  app.addHook('onClose', async () => throttle.stop())
}, { name: 'google-ops-throttle', dependencies: ['prisma'] })
