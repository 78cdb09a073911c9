import fp from 'fastify-plugin'
import { RateLimiterMemory, RateLimiterPrisma, RateLimiterRes } from 'rate-limiter-flexible'
import type { RateLimiterAbstract } from 'rate-limiter-flexible'
import type { Config } from '../config.ts'
import { sha256Hex } from '../crypto/hashing.ts'
import { Errors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { clientIpKey } from '../http/client-ip.ts'

/**
 * Every rate limit of the server, in one table: what it counts per (`per`), where it counts (`store`) and its
 * budget. A limit is spent in the service that does the work (login in UsersService, Google calls in the Google
 * and Gmail services, Apple's in AppleSignIn, exchanges in TokenExchange), never in a resolver, so that every way in (GraphQL, the browser
 * flow, REST) meets the same bound.
 *
 * - `database`: rate-limiter-flexible's Prisma store (table `rate_limits`): every server process counts together.
 *   Used where an attacker gains from spreading requests over processes (passwords, Google quota).
 * - `memory`: per process, no database write. Only for keys an attacker cannot mint (a registered client after it
 *   authenticated): a client's budget is then `points` per window per process, and memory is one entry per client.
 */
export type Per = 'ip' | 'account' | 'account-and-address' | 'client' | 'session' | 'device'

export interface RateLimitRule {
  per: Per
  store: 'database' | 'memory'
  /** The store's key prefix: a stable name (it is the row key in `rate_limits`). */
  prefix: string
  points: (c: Config) => number
  windowSeconds: (c: Config) => number
}

/** How many addresses' worth of failures an account takes from unknown devices before they must wait. */
export const UNTRUSTED_ACCOUNT_FACTOR = 10

export const RATE_LIMIT_RULES = {
  /** Password attempts from one address (IPv6 by /64), whatever the account. */
  loginPerIp: { per: 'ip', store: 'database', prefix: 'login_ip', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_IP, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  /** Password attempts on one account from one address: a stranger's failures never spend the owner's budget elsewhere. */
  loginPerAccountAndAddress: { per: 'account-and-address', store: 'database', prefix: 'login_acct_ip', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  /**
   * Password attempts on one account from devices that never signed in to it (guessing spread over many addresses),
   * UNTRUSTED_ACCOUNT_FACTOR times the per-address budget. A device that did sign in (device cookie or token) is
   * neither counted here nor stopped by it.
   */
  loginPerAccountUntrusted: { per: 'account', store: 'database', prefix: 'login_account', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT * UNTRUSTED_ACCOUNT_FACTOR, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  /** Password attempts presented with one trusted device token (OWASP: a device cookie is locked out on its own). */
  loginPerDevice: { per: 'device', store: 'database', prefix: 'login_device', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  /** Password checks inside a live session (changePassword, step-up): only that session's own failures count. */
  passwordPerSession: { per: 'session', store: 'database', prefix: 'password_session', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  signUpPerIp: { per: 'ip', store: 'database', prefix: 'signup_ip', points: (c) => c.SIGNUP_MAX_PER_IP, windowSeconds: (c) => c.SIGNUP_WINDOW_SECONDS },
  /** Starting the browser's Google sign-in (each start stores a pending state until used or expired). */
  googleStartPerIp: { per: 'ip', store: 'database', prefix: 'google_start_ip', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_IP, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  /** Starting the browser's Sign in with Apple, likewise. */
  appleStartPerIp: { per: 'ip', store: 'database', prefix: 'apple_start_ip', points: (c) => c.LOGIN_MAX_ATTEMPTS_PER_IP, windowSeconds: (c) => c.LOGIN_WINDOW_SECONDS },
  /** Operations that call Google (they spend the project's quota): per address and per user. */
  googleOpsPerIp: { per: 'ip', store: 'database', prefix: 'google_ops_ip', points: (c) => c.GOOGLE_OPS_PER_IP_PER_MINUTE, windowSeconds: () => 60 },
  googleOpsPerAccount: { per: 'account', store: 'database', prefix: 'google_ops_user', points: (c) => c.GOOGLE_OPS_PER_USER_PER_MINUTE, windowSeconds: () => 60 },
  /**
   * Operations that verify an Apple ID token (signInWithApple, linkApple, the web callback, which also calls
   * Apple's token endpoint): Google's budgets, on counters of their own, so a flood of one provider's sign-ins
   * never locks the other out.
   */
  appleOpsPerIp: { per: 'ip', store: 'database', prefix: 'apple_ops_ip', points: (c) => c.GOOGLE_OPS_PER_IP_PER_MINUTE, windowSeconds: () => 60 },
  appleOpsPerAccount: { per: 'account', store: 'database', prefix: 'apple_ops_user', points: (c) => c.GOOGLE_OPS_PER_USER_PER_MINUTE, windowSeconds: () => 60 },
  /**
   * POST /oauth/token per authenticated client, in memory: no database write on the exchange's hot path. The key
   * is a registered client id (known only after its secret matched), so the map holds at most one entry per
   * client; with N server processes a client may make N × OAUTH_TOKEN_MAX_PER_CLIENT exchanges per window.
   */
  /** requestPasswordReset per address asked for (counted whether or not an account has it) and per client IP. */
  passwordResetPerEmail: { per: 'account', store: 'database', prefix: 'reset_email', points: (c) => c.PASSWORD_RESET_MAX_PER_EMAIL, windowSeconds: (c) => c.EMAIL_RATE_WINDOW_SECONDS },
  passwordResetPerIp: { per: 'ip', store: 'database', prefix: 'reset_ip', points: (c) => c.PASSWORD_RESET_MAX_PER_IP, windowSeconds: (c) => c.EMAIL_RATE_WINDOW_SECONDS },
  /** resendVerificationEmail per user. */
  verificationMailPerUser: { per: 'account', store: 'database', prefix: 'verify_user', points: (c) => c.VERIFICATION_EMAIL_MAX_PER_USER, windowSeconds: (c) => c.EMAIL_RATE_WINDOW_SECONDS },
  tokenExchangePerClient: { per: 'client', store: 'memory', prefix: 'oauth_client', points: (c) => c.OAUTH_TOKEN_MAX_PER_CLIENT, windowSeconds: (c) => c.OAUTH_TOKEN_WINDOW_SECONDS }
} as const satisfies Record<string, RateLimitRule>

export type RateLimitName = keyof typeof RATE_LIMIT_RULES

/** What a limit is counted for; each rule reads the parts its `per` names. */
export interface Subject {
  ip?: string
  /** A user id or a normalised email (the rules that count accounts are fed one or the other, consistently). */
  account?: string
  client?: string
  session?: string
  device?: string
}

/** Expired database counters are swept this often (rate-limiter-flexible's own sweep is turned off: see below). */
const SWEEP_INTERVAL_MS = 5 * 60_000

function keyOf (rule: RateLimitRule, s: Subject): string {
  const need = (v: string | undefined, what: string): string => {
    if (v == null || v === '') throw new TypeError(`rate limit ${rule.prefix} needs ${what}`)
    return v
  }
  switch (rule.per) {
    case 'ip': return clientIpKey(need(s.ip, 'ip'))
    case 'account': return need(s.account, 'account')
    // The address part is the same /64 key as per-ip; the account first, so a prefix never reads as an address.
    case 'account-and-address': return `${need(s.account, 'account')}|${clientIpKey(need(s.ip, 'ip'))}`
    case 'client': return need(s.client, 'client')
    case 'session': return need(s.session, 'session')
    case 'device': return need(s.device, 'device')
  }
}

export class RateLimits {
  readonly #limiters: ReadonlyMap<RateLimitName, { rule: RateLimitRule, limiter: RateLimiterAbstract }>
  readonly #prisma: PrismaClient
  #sweep: NodeJS.Timeout | undefined

  constructor (deps: { prisma: PrismaClient, config: Config }) {
    this.#prisma = deps.prisma
    const limiters = new Map<RateLimitName, { rule: RateLimitRule, limiter: RateLimiterAbstract }>()
    for (const [name, rule] of Object.entries(RATE_LIMIT_RULES) as Array<[RateLimitName, RateLimitRule]>) {
      const opts = { keyPrefix: rule.prefix, points: rule.points(deps.config), duration: rule.windowSeconds(deps.config) }
      const limiter = rule.store === 'memory'
        ? new RateLimiterMemory(opts)
        // The library's own sweep is one timer per limiter that can only be stopped through a private field;
        // one sweep of the shared table (below) replaces them all.
        : new RateLimiterPrisma({ ...opts, storeClient: deps.prisma, tableName: 'rateLimit', clearExpiredByTimeout: false })
      limiters.set(name, { rule, limiter })
    }
    this.#limiters = limiters
  }

  /** Spends one point of `name` for `subject`; RATE_LIMITED with retryAfterSeconds (≥ 1) when none is left. */
  async consume (name: RateLimitName, subject: Subject): Promise<void> {
    const { rule, limiter } = this.#limiters.get(name)!
    try {
      await limiter.consume(keyOf(rule, subject))
    } catch (err) {
      // The library rejects with a RateLimiterRes when the limit is reached, and with an Error when the store fails.
      if (err instanceof RateLimiterRes) throw Errors.rateLimited({ retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) })
      throw err
    }
  }

  /**
   * What `name` counts `subject` under, as a stable opaque string (SHA-256 of the limit and its key): one counted
   * security-event row per throttled key and hour (issue 21 item 9) without writing the key (a device token's
   * nonce, an address) into a unique column.
   */
  throttledKey (name: RateLimitName, subject: Subject): string {
    const { rule } = this.#limiters.get(name)!
    return `${name}:${sha256Hex(`${rule.prefix}:${keyOf(rule, subject)}`).slice(0, 32)}`
  }

  /** Forgets `subject`'s count (a success that proves the failures were the owner's own typos). */
  async reset (name: RateLimitName, subject: Subject): Promise<void> {
    const { rule, limiter } = this.#limiters.get(name)!
    await limiter.delete(keyOf(rule, subject))
  }

  /** Deletes database counters that expired over an hour ago (the library's rule), at most every 5 minutes. */
  async sweepExpired (now = new Date()): Promise<number> {
    const { count } = await this.#prisma.rateLimit.deleteMany({ where: { expire: { lt: new Date(now.getTime() - 3_600_000) } } })
    return count
  }

  start (onError: (err: unknown) => void): void {
    this.#sweep = setInterval(() => { this.sweepExpired().catch(onError) }, SWEEP_INTERVAL_MS).unref()
  }

  stop (): void {
    clearInterval(this.#sweep)
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimits: RateLimits
  }
}

export default fp(async (app) => {
  const limits = new RateLimits({ prisma: app.prisma, config: app.config })
  app.decorate('rateLimits', limits)
  limits.start((err) => app.log.warn({ err }, 'sweeping expired rate-limit counters failed'))
  app.addHook('onClose', async () => limits.stop())
}, { name: 'rate-limits', dependencies: ['prisma'] })
