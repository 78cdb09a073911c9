import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Registry } from 'prom-client'
import { sameSecretHashed } from '../crypto/secrets.ts'
import type { GoogleCallOutcome, GoogleOperation } from '../google/google-gateway.ts'
import type { TokenVault, TokenVaultStats } from '../vault/index.ts'

/**
 * Counters for operators (Prometheus text format on `GET /metrics` when METRICS_ENABLED) and for the benchmarks
 * (bench/). One registry per app instance, never prom-client's global one: tests build many apps in one process.
 * Every label value is a fixed word from the unions below: never a token, an email, a user id or a message.
 */

export type RefreshOutcome = 'rotated' | 'grace_replay' | 'reuse_detected' | 'invalid' | 'session_ended' | 'error'
export type LoginOutcome = 'succeeded' | 'failed' | 'rate_limited' | 'disabled'
/** `already_fresh`: the refresher waited for the row lock and found a token another caller or process had just stored. */
export type GmailTokenRefreshOutcome = 'refreshed' | 'already_fresh' | 'invalid_grant' | 'vault_secret_missing'

const REFRESH_OUTCOMES: RefreshOutcome[] = ['rotated', 'grace_replay', 'reuse_detected', 'invalid', 'session_ended', 'error']
const LOGIN_OUTCOMES: LoginOutcome[] = ['succeeded', 'failed', 'rate_limited', 'disabled']
const GMAIL_OUTCOMES: GmailTokenRefreshOutcome[] = ['refreshed', 'already_fresh', 'invalid_grant', 'vault_secret_missing']

/** What the services count into (they take it as an optional dependency). */
export interface ServiceMetrics {
  refresh (outcome: RefreshOutcome): void
  login (outcome: LoginOutcome): void
  gmailTokenRefresh (outcome: GmailTokenRefreshOutcome): void
  riscEvent (event: string, outcome: string): void
}

/** The KMS vault's request counts, also behind a migration's MigratingTokenVault; undefined for other vaults. */
function kmsStatsOf (vault: unknown): Record<string, number> | undefined {
  const v = vault as { kmsStats?: () => Record<string, number>, current?: unknown } | undefined
  if (typeof v?.kmsStats === 'function') return v.kmsStats()
  return v?.current != null ? kmsStatsOf(v.current) : undefined
}

export class Metrics implements ServiceMetrics {
  readonly registry = new Registry()
  readonly #googleCalls: Counter<'operation' | 'outcome'>
  readonly #refreshes: Counter<'outcome'>
  readonly #logins: Counter<'outcome'>
  readonly #gmailTokenRefreshes: Counter<'outcome'>
  readonly #riscEvents: Counter<'event' | 'outcome'>
  readonly #tokenExchanges: Counter<'client' | 'outcome'>
  readonly #vaultCounters: { calls: Counter<'operation'>, errors: Counter }
  #vault: (() => TokenVault | undefined) | undefined
  #vaultSeen: TokenVaultStats = { reads: 0, writes: 0, deletes: 0, errors: 0 }

  constructor () {
    const registers = [this.registry]
    this.#googleCalls = new Counter({
      name: 'inboxgate_google_calls_total',
      help: 'Calls to Google by operation and outcome (ok, invalid_grant, rejected, unavailable, error); retries inside google-auth-library count once',
      labelNames: ['operation', 'outcome'] as const,
      registers
    })
    this.#refreshes = new Counter({
      name: 'inboxgate_refresh_token_rotations_total',
      help: 'refresh mutations by outcome; reuse_detected means a whole session family was revoked',
      labelNames: ['outcome'] as const,
      registers
    })
    this.#logins = new Counter({ name: 'inboxgate_logins_total', help: 'Password logins by outcome', labelNames: ['outcome'] as const, registers })
    this.#gmailTokenRefreshes = new Counter({
      name: 'inboxgate_gmail_token_refreshes_total',
      help: 'Gmail access-token refresh flights (one per user and process at a time) by outcome',
      labelNames: ['outcome'] as const,
      registers
    })
    this.#riscEvents = new Counter({
      name: 'inboxgate_google_risc_events_total',
      help: 'Security events Google pushed (Cross-Account Protection) by event (the event type\'s last path segment, or rejected) and outcome',
      labelNames: ['event', 'outcome'] as const,
      registers
    })
    this.#tokenExchanges = new Counter({
      name: 'inboxgate_oauth_token_exchanges_total',
      help: 'POST /oauth/token by service client (its name; "unauthenticated" before the client is known) and outcome (issued, or the OAuth error code)',
      labelNames: ['client', 'outcome'] as const,
      registers
    })
    // The vaults count their own calls (TokenVault.stats()): read at scrape time rather than counted twice.
    const sync = () => this.#syncVault()
    const vaultCalls = new Counter({
      name: 'inboxgate_vault_calls_total',
      help: 'Token vault calls by operation (AWS Secrets Manager bills and throttles per call)',
      labelNames: ['operation'] as const,
      registers,
      collect: sync
    })
    // TOKEN_VAULT=kms: KMS requests by operation (what AWS bills), read from the vault at scrape time like the above.
    const kmsSeen: Record<string, number> = {}
    const kmsRequests: Counter<'operation'> = new Counter({
      name: 'inboxgate_kms_requests_total',
      help: 'AWS KMS requests of the KMS vault by operation (generateDataKey, decrypt, reEncrypt, describeKey, errors; cacheHits: requests a cached data key saved)',
      labelNames: ['operation'] as const,
      registers,
      collect: () => {
        const stats = kmsStatsOf(this.#vault?.())
        if (stats == null) return
        for (const [operation, n] of Object.entries(stats)) {
          const delta = n - (kmsSeen[operation] ?? 0)
          if (delta > 0) kmsRequests.inc({ operation }, delta)
          kmsSeen[operation] = n
        }
      }
    })
    const vaultErrors = new Counter({ name: 'inboxgate_vault_errors_total', help: 'Token vault calls that failed', registers, collect: sync })
    this.#vaultCounters = { calls: vaultCalls, errors: vaultErrors }

    // Every series exists from the start at 0, so rate() and alerts see the first event.
    for (const o of REFRESH_OUTCOMES) this.#refreshes.inc({ outcome: o }, 0)
    for (const o of LOGIN_OUTCOMES) this.#logins.inc({ outcome: o }, 0)
    for (const o of GMAIL_OUTCOMES) this.#gmailTokenRefreshes.inc({ outcome: o }, 0)
    for (const operation of ['read', 'write', 'delete']) vaultCalls.inc({ operation }, 0)
  }

  refresh (outcome: RefreshOutcome): void {
    this.#refreshes.inc({ outcome })
  }

  login (outcome: LoginOutcome): void {
    this.#logins.inc({ outcome })
  }

  gmailTokenRefresh (outcome: GmailTokenRefreshOutcome): void {
    this.#gmailTokenRefreshes.inc({ outcome })
  }

  /** `event` and `outcome` are fixed words from src/google/risc/ (never a value from the token). */
  riscEvent (event: string, outcome: string): void {
    this.#riscEvents.inc({ event, outcome })
  }

  /** Labels are an operator-chosen client name and a fixed word: never a token or a user id. */
  tokenExchange (client: string, outcome: string): void {
    this.#tokenExchanges.inc({ client, outcome })
  }

  /** The vault whose stats() the vault counters follow (looked up at scrape time). */
  observeVault (vault: () => TokenVault | undefined): void {
    this.#vault = vault
  }

  /** One call to Google and its outcome (the gateway calls this: src/google/google-gateway.ts). */
  googleCall (operation: GoogleOperation, outcome: GoogleCallOutcome): void {
    this.#googleCalls.inc({ operation, outcome })
  }

  #syncVault (): void {
    const now = this.#vault?.()?.stats()
    if (now == null) return
    const seen = this.#vaultSeen
    const { calls, errors } = this.#vaultCounters
    // Monotonic deltas (a vault's stats never go down); clamped in case a test swaps the vault.
    calls.inc({ operation: 'read' }, Math.max(0, now.reads - seen.reads))
    calls.inc({ operation: 'write' }, Math.max(0, now.writes - seen.writes))
    calls.inc({ operation: 'delete' }, Math.max(0, now.deletes - seen.deletes))
    errors.inc(Math.max(0, now.errors - seen.errors))
    this.#vaultSeen = now
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/**
 * Registered before the services (they count into `app.metrics`; the Google gateway is handed `googleCall`); the
 * vault is registered later, so
 * they are attached once the app is ready. The counters always count (a few increments); only METRICS_ENABLED
 * adds the process metrics (RSS, event-loop delay, GC) and the route.
 */
export default fp(async (app: FastifyInstance) => {
  const metrics = new Metrics()
  app.decorate('metrics', metrics)
  app.addHook('onReady', async () => {
    metrics.observeVault(() => (app.hasDecorator('vault') ? app.vault : undefined))
  })

  const { METRICS_ENABLED, METRICS_TOKEN } = app.config
  if (!METRICS_ENABLED) return
  collectDefaultMetrics({ register: metrics.registry })
  // Compared as SHA-256 digests (sameSecretHashed): nothing about the token's length leaks.
  const expected = METRICS_TOKEN != null ? `Bearer ${METRICS_TOKEN}` : null
  if (expected == null && app.config.PRODUCTION) app.log.warn('METRICS_ENABLED without METRICS_TOKEN: /metrics answers anyone who can reach this port')

  app.get('/metrics', async (request, reply) => {
    if (expected != null && !sameSecretHashed(request.headers.authorization ?? '', expected)) {
      return await reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'unauthorized' })
    }
    const body = await metrics.registry.metrics()
    return await reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store').send(body)
  })
}, { name: 'metrics', dependencies: ['config'] })
