import fp from 'fastify-plugin'
import { RateLimiterPrisma, RateLimiterRes } from 'rate-limiter-flexible'
import { Errors } from '../errors.ts'
import { clientIpKey } from '../http/client-ip.ts'

/**
 * Attempt counters for login and sign-up, per client IP and per account (ASVS 6.3.1). They live in the
 * database (rate-limiter-flexible's Prisma store) so that every server process counts together, and they
 * are consumed per resolver call: 100 aliased `login` fields in one request are 100 attempts. Client IPs are
 * counted by clientIpKey (an IPv6 client by its /64).
 */
export class LoginThrottle {
  readonly #perIp: RateLimiterPrisma
  readonly #perAccount: RateLimiterPrisma
  readonly #signUpPerIp: RateLimiterPrisma
  readonly #googlePerIp: RateLimiterPrisma

  constructor (limiters: { perIp: RateLimiterPrisma, perAccount: RateLimiterPrisma, signUpPerIp: RateLimiterPrisma, googlePerIp: RateLimiterPrisma }) {
    this.#perIp = limiters.perIp
    this.#perAccount = limiters.perAccount
    this.#signUpPerIp = limiters.signUpPerIp
    this.#googlePerIp = limiters.googlePerIp
  }

  async loginAttempt (ip: string, email: string): Promise<void> {
    await consume(this.#perIp, clientIpKey(ip))
    await consume(this.#perAccount, email)
  }

  /** A successful login clears the account's failures, so a user who mistyped a few times is not locked out later. */
  async loginSucceeded (email: string): Promise<void> {
    await this.#perAccount.delete(email)
  }

  async signUpAttempt (ip: string): Promise<void> {
    await consume(this.#signUpPerIp, clientIpKey(ip))
  }

  /** Starting a Google sign-in in a browser (each start stores a pending state until used or expired). */
  async googleSignInAttempt (ip: string): Promise<void> {
    await consume(this.#googlePerIp, clientIpKey(ip))
  }

  stop (): void {
    stopLimiters([this.#perIp, this.#perAccount, this.#signUpPerIp, this.#googlePerIp])
  }
}

/** Stops the limiters' timers that sweep expired rows, so a closing app does not wait for them. */
export function stopLimiters (limiters: RateLimiterPrisma[]): void {
  for (const l of limiters) {
    clearTimeout((l as unknown as { _clearExpiredTimeoutId?: NodeJS.Timeout })._clearExpiredTimeoutId)
  }
}

/** Spends one point of `key`; RATE_LIMITED with retryAfterSeconds when none is left. */
export async function consume (limiter: RateLimiterPrisma, key: string): Promise<void> {
  try {
    await limiter.consume(key)
  } catch (err) {
    // The library rejects with a RateLimiterRes when the limit is reached, and with an Error when the store fails.
    if (err instanceof RateLimiterRes) throw Errors.rateLimited({ retryAfterSeconds: Math.ceil(err.msBeforeNext / 1000) })
    throw err
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: LoginThrottle
  }
}

export default fp(async (app) => {
  const c = app.config
  const make = (keyPrefix: string, points: number, duration: number) =>
    new RateLimiterPrisma({ storeClient: app.prisma, tableName: 'rateLimit', keyPrefix, points, duration })
  const throttle = new LoginThrottle({
    perIp: make('login_ip', c.LOGIN_MAX_ATTEMPTS_PER_IP, c.LOGIN_WINDOW_SECONDS),
    perAccount: make('login_account', c.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, c.LOGIN_WINDOW_SECONDS),
    signUpPerIp: make('signup_ip', c.SIGNUP_MAX_PER_IP, c.SIGNUP_WINDOW_SECONDS),
    googlePerIp: make('google_start_ip', c.LOGIN_MAX_ATTEMPTS_PER_IP, c.LOGIN_WINDOW_SECONDS)
  })
  app.decorate('loginThrottle', throttle)
  app.addHook('onClose', async () => throttle.stop())
}, { name: 'login-throttle', dependencies: ['prisma'] })
