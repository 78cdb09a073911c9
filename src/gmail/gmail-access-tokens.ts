import type { Clock } from '../clock.ts'
import { googleTokenIdentifiers } from '../crypto/hashing.ts'
import { Errors } from '../errors.ts'
import type { GmailConnection, PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway, GoogleTokens } from '../google/google-gateway.ts'
import { GoogleInvalidGrantError } from '../google/google-gateway.ts'
import type { ServiceMetrics } from '../metrics/metrics.ts'
import type { SecurityEvents } from '../security-events/security-events.ts'
import type { GmailTokenBundle, TokenVault } from '../vault/index.ts'

export interface GmailAccessTokensDeps {
  prisma: PrismaClient
  vault: TokenVault
  google: GoogleGateway | null
  securityEvents: SecurityEvents
  clock: Clock
  refreshMarginSeconds: number
  metrics?: Pick<ServiceMetrics, 'gmailTokenRefresh'> | undefined
}

/**
 * Access tokens for connected users. Near expiry, concurrent callers share one refresh: one flight per user in
 * this process, and a row lock (SELECT … FOR UPDATE) across processes, re-checked under the lock. Only Google's
 * `invalid_grant` deletes a grant (then RECONNECT_REQUIRED); a 5xx, a timeout or a vault outage deletes nothing.
 */
export class GmailAccessTokens {
  readonly #prisma: PrismaClient
  readonly #vault: TokenVault
  readonly #google: GoogleGateway | null
  readonly #events: SecurityEvents
  readonly #clock: Clock
  readonly #marginMs: number
  readonly #metrics: Pick<ServiceMetrics, 'gmailTokenRefresh'> | undefined
  readonly #flights = new Map<string, Promise<string>>()
  /**
   * Access tokens (never refresh tokens) already read from the vault, valid while the row's vaultVersion
   * is unchanged: a fresh token costs one database read and no vault call (Secrets Manager bills and
   * throttles per call). Bounded by the number of connected users served by this process.
   */
  readonly #cache = new Map<string, { accessToken: string, expiryDate: number, version: string }>()
  /**
   * Vault reads in flight on the fresh-token path. After another instance refreshed (the row's vaultVersion moved)
   * or after a restart, the cache is cold: concurrent callers then share one read instead of one read each.
   */
  readonly #reads = new Map<string, Promise<GmailTokenBundle | null>>()

  constructor (deps: GmailAccessTokensDeps) {
    this.#prisma = deps.prisma
    this.#vault = deps.vault
    this.#google = deps.google
    this.#events = deps.securityEvents
    this.#clock = deps.clock
    this.#marginMs = deps.refreshMarginSeconds * 1000
    this.#metrics = deps.metrics
  }

  /** Drops what this process remembers of a user's token (after a connect or a disconnect). */
  forget (userId: string): void {
    this.#cache.delete(userId)
  }

  /**
   * Google told us (Cross-Account Protection) that the grant is dead: the same deletion as on `invalid_grant`, under
   * the same row lock, so it cannot interleave with a refresh. False when there was no live grant to delete.
   */
  async revokedByGoogle (userId: string, reason: string): Promise<boolean> {
    const deleted = await this.#prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT user_id FROM gmail_connections WHERE user_id = ${userId}::uuid FOR UPDATE`
      const row = await tx.gmailConnection.findUnique({ where: { userId } })
      if (row == null || row.state === 'RECONNECT_REQUIRED') return false
      await this.#deleteDeadGrant(tx, userId, reason)
      return true
    }, { timeout: 60_000, maxWait: 60_000 })
    if (deleted) await this.#events.record('GMAIL_RECONNECT_REQUIRED', { userId, detail: { reason } })
    return deleted
  }

  // The one way a dead grant goes: the vault secret first, then the row says why.
  async #deleteDeadGrant (tx: Pick<PrismaClient, 'gmailConnection'>, userId: string, reason: string): Promise<void> {
    await this.#vault.delete(userId)
    await tx.gmailConnection.update({
      where: { userId },
      data: { state: 'RECONNECT_REQUIRED', stateReason: reason, accessTokenExpiresAt: null, refreshTokenPrefix: null, refreshTokenHash: null }
    })
    this.#cache.delete(userId)
  }

  /** An access token valid for at least the refresh margin. Every Gmail call goes through here. */
  async get (userId: string): Promise<string> {
    const row = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
    assertUsable(row)
    const now = this.#clock.now().getTime()
    const cached = this.#cache.get(userId)
    if (cached != null && cached.version === versionOf(row) && cached.expiryDate - now > this.#marginMs) return cached.accessToken
    if (row.accessTokenExpiresAt != null && row.accessTokenExpiresAt.getTime() - now > this.#marginMs) {
      const bundle = await this.#sharedRead(userId, versionOf(row))
      if (bundle != null && bundle.expiryDate - now > this.#marginMs) {
        this.#cache.set(userId, { accessToken: bundle.accessToken, expiryDate: bundle.expiryDate, version: versionOf(row) })
        return bundle.accessToken
      }
    }
    return await this.#singleFlight(userId)
  }

  // Keyed by the row version the caller saw: the vault is written before the row, so a read started after seeing
  // version v returns bundle v or a newer one, never an older grant (say, of the Google account connected before a switch).
  #sharedRead (userId: string, version: string): Promise<GmailTokenBundle | null> {
    const key = `${userId}:${version}`
    let read = this.#reads.get(key)
    if (read == null) {
      read = this.#vault.get(userId).finally(() => this.#reads.delete(key))
      this.#reads.set(key, read)
    }
    return read
  }

  /** Forces a refresh (e.g. Gmail answered 401 for a token we thought valid), still one at a time. */
  async refreshNow (userId: string): Promise<string> {
    this.#cache.delete(userId)
    return await this.#singleFlight(userId, true)
  }

  #singleFlight (userId: string, force = false): Promise<string> {
    let flight = this.#flights.get(userId)
    if (flight == null) {
      flight = this.#refreshUnderLock(userId, force).finally(() => this.#flights.delete(userId))
      this.#flights.set(userId, flight)
    }
    return flight
  }

  async #refreshUnderLock (userId: string, force: boolean): Promise<string> {
    const google = this.#google
    if (google == null) throw Errors.googleNotConfigured()
    // Bounds the row lock: Google (up to 4 tries) plus the vault (AWS SDK: 3 tries × 3 s, read and write).
    const timeout = google.config.timeoutMs * 4 + 30_000
    const outcome: { token: string } | { reconnect: string } = await this.#prisma.$transaction(async (tx) => {
      // Serialises refreshers across processes; the loser finds the winner's fresh token below.
      await tx.$queryRaw`SELECT user_id FROM gmail_connections WHERE user_id = ${userId}::uuid FOR UPDATE`
      const row = await tx.gmailConnection.findUnique({ where: { userId } })
      assertUsable(row)
      const bundle = await this.#vault.get(userId)
      if (bundle == null) {
        await tx.gmailConnection.update({ where: { userId }, data: { state: 'RECONNECT_REQUIRED', stateReason: 'VAULT_SECRET_MISSING', accessTokenExpiresAt: null } })
        this.#metrics?.gmailTokenRefresh('vault_secret_missing')
        return { reconnect: 'VAULT_SECRET_MISSING' } as const
      }
      const now = this.#clock.now().getTime()
      if (!force && bundle.expiryDate - now > this.#marginMs) {
        // The secret can be a refresh ahead of the row (a crash between the vault write and the row update below):
        // catch the row up, or every later call would take this lock again until the next real refresh.
        if (row.accessTokenExpiresAt?.getTime() !== bundle.expiryDate) {
          await tx.gmailConnection.update({ where: { userId }, data: { accessTokenExpiresAt: new Date(bundle.expiryDate) } })
        }
        this.#cache.set(userId, { accessToken: bundle.accessToken, expiryDate: bundle.expiryDate, version: versionOf(row) })
        this.#metrics?.gmailTokenRefresh('already_fresh')
        return { token: bundle.accessToken }
      }
      let fresh: GoogleTokens
      try {
        fresh = await google.refresh(bundle.refreshToken, bundle.clientId)
      } catch (err) {
        if (!(err instanceof GoogleInvalidGrantError)) throw err
        // Revoked by the user, expired, password changed, token limit… Google does not say which; all
        // mean the same: the grant is dead. Delete it and ask for a new one.
        await this.#deleteDeadGrant(tx, userId, 'INVALID_GRANT')
        this.#metrics?.gmailTokenRefresh('invalid_grant')
        return { reconnect: 'INVALID_GRANT' } as const
      }
      const next: GmailTokenBundle = {
        ...bundle,
        accessToken: fresh.accessToken,
        // A refresh response normally has no refresh_token: keep the one we hold.
        refreshToken: fresh.refreshToken ?? bundle.refreshToken,
        expiryDate: now + fresh.expiresIn * 1000,
        scope: fresh.scope.length > 0 ? fresh.scope : bundle.scope,
        obtainedAt: now
      }
      await this.#vault.put(userId, next)
      const updated = await tx.gmailConnection.update({
        where: { userId },
        data: { accessTokenExpiresAt: new Date(next.expiryDate), lastRefreshedAt: new Date(now), grantedScopes: next.scope, vaultVersion: { increment: 1 }, ...googleTokenIdentifiers(next.refreshToken) }
      })
      this.#cache.set(userId, { accessToken: next.accessToken, expiryDate: next.expiryDate, version: versionOf(updated) })
      this.#metrics?.gmailTokenRefresh('refreshed')
      return { token: next.accessToken }
    }, { timeout, maxWait: timeout })
    // The RECONNECT_REQUIRED state must be committed first, so the error is raised after the transaction,
    // and the event is written outside it (on PGlite's single connection a second query inside would wait forever).
    if ('reconnect' in outcome) {
      await this.#events.record('GMAIL_RECONNECT_REQUIRED', { userId, detail: { reason: outcome.reconnect } })
      throw Errors.reconnectRequired()
    }
    return outcome.token
  }
}

function assertUsable (row: GmailConnection | null): asserts row is GmailConnection {
  if (row == null) throw Errors.gmailNotConnected()
  if (row.state === 'RECONNECT_REQUIRED') throw Errors.reconnectRequired()
  if (row.state === 'SCOPE_MISSING') throw Errors.scopeMissing({ missingScopes: row.missingScopes })
}

/**
 * What a cached token is checked against: the vault version, and the connection's start, because a row
 * created again after a disconnect starts counting at 1 again (another process may still cache "1").
 */
function versionOf (row: GmailConnection): string {
  return `${row.vaultVersion}@${row.connectedAt.getTime()}`
}
