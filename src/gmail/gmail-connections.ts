import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import { Errors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway, GoogleTokens } from '../google/google-gateway.ts'
import { GMAIL_READONLY, GoogleRejectedError } from '../google/google-gateway.ts'
import type { ServiceMetrics } from '../metrics/metrics.ts'
import type { RateLimits } from '../rate-limits/rate-limits.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { TokenVault } from '../vault/index.ts'
import { GmailAccessTokens } from './gmail-access-tokens.ts'
import type { RevokedGrant } from './gmail-access-tokens.ts'
import { GmailConnect } from './gmail-connect.ts'
import { grantLockHoldMs, withGrantLock } from './grant-lock.ts'
import type { GrantLease, GrantTx } from './grant-lock.ts'
import type { ConnectGmailInput, ConnectMeta, Connected, GmailStatusView, SwitchCheck } from './gmail-connect.ts'

export type { ConnectGmailInput, GmailStatusView, SwitchCheck } from './gmail-connect.ts'

const NOT_CONNECTED: GmailStatusView = {
  state: 'NOT_CONNECTED', googleEmail: null, grantedScopes: [], missingScopes: [], accessTokenExpiresAt: null, connectedAt: null, lastRefreshedAt: null
}

/**
 * Custody of users' Gmail grants, as the resolvers and the web flow see it. The refresh token lives only in the
 * vault; the database row says where the connection stands. Taking custody is GmailConnect (gmail-connect.ts);
 * serving access tokens, with the one-refresh-at-a-time rules, is GmailAccessTokens (gmail-access-tokens.ts).
 */
export class GmailConnections {
  readonly #prisma: PrismaClient
  readonly #vault: TokenVault
  readonly #google: GoogleGateway | null
  readonly #events: AuditLog
  readonly #tokens: GmailAccessTokens
  readonly #connect: GmailConnect
  readonly #beforeRevoke: Array<(userId: string, accessToken: string) => Promise<void>> = []
  readonly #limits: RateLimits | undefined

  constructor (deps: { prisma: PrismaClient, vault: TokenVault, google: GoogleGateway | null, auditLog: AuditLog, clock: Clock, log: FastifyBaseLogger, refreshMarginSeconds: number, gmailScopes: readonly string[], metrics?: Pick<ServiceMetrics, 'gmailTokenRefresh'>, rateLimits?: RateLimits }) {
    this.#prisma = deps.prisma
    this.#vault = deps.vault
    this.#google = deps.google
    this.#events = deps.auditLog
    this.#limits = deps.rateLimits
    this.#tokens = new GmailAccessTokens(deps)
    this.#connect = new GmailConnect({ ...deps, tokens: this.#tokens })
  }

  /** Called with the grant's last access token just before it is revoked at Google (Gmail push stops its watch). */
  beforeRevoke (listener: (userId: string, accessToken: string) => Promise<void>): void {
    this.#beforeRevoke.push(listener)
  }

  async #revoke (userId: string, bundle: { accessToken: string, refreshToken: string }): Promise<void> {
    for (const listener of this.#beforeRevoke) await listener(userId, bundle.accessToken)
    await this.#requireGoogle().revoke(bundle.refreshToken)
  }

  /**
   * A request that will call Google (connect, profile): bounded per address and per user, so junk input cannot
   * spend the project's quota. Requests carry their address; calls from inside the server (no `ip`) are not counted.
   */
  async #googleOp (userId: string, meta: ConnectMeta): Promise<void> {
    if (this.#limits == null || meta.ip == null) return
    await this.#limits.consume('googleOpsPerIp', { ip: meta.ip })
    await this.#limits.consume('googleOpsPerAccount', { account: userId })
  }

  #requireGoogle (): GoogleGateway {
    if (this.#google == null) throw Errors.googleNotConfigured()
    return this.#google
  }

  /** Database only: no vault read, no Google call. */
  async status (userId: string): Promise<GmailStatusView> {
    return (await this.#prisma.gmailConnection.findUnique({ where: { userId } })) ?? NOT_CONNECTED
  }

  /** `mayReplace`: the step-up required to replace the held grant with another Google account's (see SwitchCheck). */
  async connect (userId: string, input: ConnectGmailInput, meta: ConnectMeta, mayReplace: SwitchCheck): Promise<Connected> {
    await this.#googleOp(userId, meta)
    return await this.#connect.connect(userId, input, meta, mayReplace)
  }

  /** Takes custody of tokens the web redirect flow obtained (gmail=1): same checks and outcomes as `connect`. */
  async connectExchanged (userId: string, exchanged: GoogleTokens, meta: ConnectMeta, mayReplace: SwitchCheck): Promise<Connected> {
    return await this.#connect.connectExchanged(userId, exchanged, meta, mayReplace)
  }

  /** An access token valid for at least the refresh margin. Every Gmail call goes through here. */
  async getGmailAccessToken (userId: string): Promise<string> {
    return await this.#tokens.get(userId)
  }

  /** The same always-valid token with its expiry (ms), for handing out to service clients (src/oauth/). */
  async getGmailAccessTokenWithExpiry (userId: string): Promise<{ accessToken: string, expiryDate: number }> {
    return await this.#tokens.getWithExpiry(userId)
  }

  /** Forces a refresh (e.g. Gmail answered 401 for a token we thought valid), still one at a time. */
  async refreshNow (userId: string): Promise<string> {
    return await this.#tokens.refreshNow(userId)
  }

  /** Google revoked a grant (RISC event): deleted like an `invalid_grant`, state RECONNECT_REQUIRED with `reason`. */
  async revokedByGoogle (userId: string, reason: string, revoked: RevokedGrant): Promise<boolean> {
    return await this.#tokens.revokedByGoogle(userId, reason, revoked)
  }

  /**
   * Revokes at Google first (the user asked to cut access), then deletes the secret and the row. Under the user's
   * grant lease, Google's revoke included: a connect meanwhile must not have its new grant deleted unrevoked.
   */
  async disconnect (userId: string, meta: ConnectMeta = {}): Promise<GmailStatusView> {
    const removed = await this.withGrantLock(userId, null, async (lease) => {
      const row = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
      if (row == null) return false
      const bundle = row.state === 'SCOPE_MISSING' ? null : await this.#vault.get(userId)
      if (bundle != null) await this.#revoke(userId, bundle)
      await lease.renew()
      await this.#vault.delete(userId)
      await lease.write(async (tx) => await tx.gmailConnection.deleteMany({ where: { userId } }))
      return true
    })
    if (!removed) return NOT_CONNECTED
    this.#tokens.forget(userId)
    await this.#events.record('GMAIL_DISCONNECTED', { userId, ...meta })
    return NOT_CONNECTED
  }

  /**
   * Account deletion's part: under the user's grant lease, revokes at Google whatever grant the vault holds for the
   * user (with or without a row), deletes the secret, then deletes the row and runs `then` (deleting the user) in
   * one fenced transaction before the lease is released, so a connect or refresh waiting for the lease finds no
   * user and stores nothing. A failure (Google or the vault down) comes before any row is written: the secret
   * stays for the retry to revoke.
   */
  async removeForDeletion<T> (userId: string, then: (tx: GrantTx) => Promise<T>): Promise<{ hadGrant: boolean, result: T }> {
    const done = await this.withGrantLock(userId, null, async (lease) => {
      const row = await this.#prisma.gmailConnection.findUnique({ where: { userId }, select: { userId: true } })
      const bundle = await this.#vault.get(userId)
      if (bundle != null) await this.#revoke(userId, bundle)
      await lease.renew()
      await this.#vault.delete(userId)
      return await lease.write(async (tx) => {
        if (row != null) await tx.gmailConnection.deleteMany({ where: { userId } })
        return { hadGrant: row != null || bundle != null, result: await then(tx) }
      })
    })
    this.#tokens.forget(userId)
    return done
  }

  /**
   * Runs `work` as the only writer of the user's Gmail grant (see grant-lock.ts), for whatever else replaces or
   * deletes grants: account deletion, vault reconciliation. `holdMs` defaults to what a refresh may take.
   */
  async withGrantLock<T> (userId: string, holdMs: number | null, work: (lease: GrantLease) => Promise<T>): Promise<T> {
    return await withGrantLock(this.#prisma, userId, holdMs ?? grantLockHoldMs(this.#google?.config.timeoutMs ?? 0), work)
  }

  async profile (userId: string, meta: ConnectMeta = {}) {
    await this.#googleOp(userId, meta)
    const google = this.#requireGoogle()
    const token = await this.getGmailAccessToken(userId)
    try {
      return await google.gmailProfile(token)
    } catch (err) {
      if (err instanceof GoogleRejectedError && err.status === 401) {
        // The token died early (e.g. revoked at Google): one forced refresh tells whether the grant lives.
        return await google.gmailProfile(await this.refreshNow(userId))
      }
      if (err instanceof GoogleRejectedError && err.status === 403) throw Errors.scopeMissing({ missingScopes: [GMAIL_READONLY] })
      throw err
    }
  }
}
