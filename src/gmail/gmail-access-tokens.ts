import type { Clock } from '../clock.ts'
import { googleTokenIdentifiers } from '../crypto/hashing.ts'
import { Errors } from '../errors.ts'
import type { GmailConnection, PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway, GoogleTokens } from '../google/google-gateway.ts'
import { GoogleInvalidGrantError } from '../google/google-gateway.ts'
import type { ServiceMetrics } from '../metrics/metrics.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { GmailTokenBundle, TokenVault } from '../vault/index.ts'
import { GrantLeaseLostError, grantHashOf, grantLockHoldMs, withGrantLock } from './grant-lock.ts'
import type { GrantLease } from './grant-lock.ts'

export interface GmailAccessTokensDeps {
  prisma: PrismaClient
  vault: TokenVault
  google: GoogleGateway | null
  auditLog: AuditLog
  clock: Clock
  refreshMarginSeconds: number
  metrics?: Pick<ServiceMetrics, 'gmailTokenRefresh'> | undefined
}

/**
 * Access tokens for connected users. Near expiry, concurrent callers share one refresh: one flight per user in
 * this process, and the user's grant lease (grant-lock.ts) across processes, re-checked under it. Only Google's
 * `invalid_grant` deletes a grant (then RECONNECT_REQUIRED); a 5xx, a timeout or a vault outage deletes nothing.
 */
export class GmailAccessTokens {
  readonly #prisma: PrismaClient
  readonly #vault: TokenVault
  readonly #google: GoogleGateway | null
  readonly #events: AuditLog
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
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#marginMs = deps.refreshMarginSeconds * 1000
    this.#metrics = deps.metrics
  }

  /** Drops what this process remembers of a user's token (after a connect or a disconnect). */
  forget (userId: string): void {
    this.#cache.delete(userId)
  }

  /**
   * Google told us (Cross-Account Protection) that a grant is dead: deleted like on `invalid_grant`, under the same
   * grant lock and through the same compare-and-delete (docs/security.md item 29), so it cannot interleave with a
   * refresh or a connect, and a grant that replaced the revoked one meanwhile is kept. False when nothing was deleted.
   */
  async revokedByGoogle (userId: string, reason: string, revoked: RevokedGrant): Promise<boolean> {
    const holdMs = grantLockHoldMs(this.#google?.config.timeoutMs ?? 0)
    const outcome = await withGrantLock(this.#prisma, userId, holdMs, async (lease): Promise<Outcome | null> => {
      // Matched again under the lease: the row found before it may have been replaced by a new connect since.
      const row = await this.#prisma.gmailConnection.findFirst({ where: { userId, ...revoked } })
      if (row == null || row.state === 'RECONNECT_REQUIRED') return null
      return await this.#dropDeadGrant(lease, userId, row, (held) => namesGrant(revoked, held), reason)
    })
    if (outcome == null || !('reconnect' in outcome)) return false
    await this.#events.record('GMAIL_RECONNECT_REQUIRED', { userId, detail: { reason } })
    return true
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

  /** As `get`, with the token's expiry (ms): what POST /oauth/token hands out as `expires_in`. */
  async getWithExpiry (userId: string): Promise<{ accessToken: string, expiryDate: number }> {
    const accessToken = await this.get(userId)
    // Every way `get` succeeds leaves the token it served in the cache; a concurrent refresh may have replaced it
    // since, and then the row (written with the same expiry as the vault) says when this one ends.
    const cached = this.#cache.get(userId)
    if (cached?.accessToken === accessToken) return { accessToken, expiryDate: cached.expiryDate }
    const row = await this.#prisma.gmailConnection.findUnique({ where: { userId }, select: { accessTokenExpiresAt: true } })
    return { accessToken, expiryDate: row?.accessTokenExpiresAt?.getTime() ?? this.#clock.now().getTime() + this.#marginMs }
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

  async #refreshUnderLock (userId: string, force: boolean, retried = false): Promise<string> {
    const google = this.#google
    if (google == null) throw Errors.googleNotConfigured()
    // The lease is held across Google's answer, so a second instance cannot refresh the same grant meanwhile (two
    // Google calls, docs/security.md item 17); no database connection is (grant-lock.ts).
    const outcome: Outcome = await withGrantLock(this.#prisma, userId, grantLockHoldMs(google.config.timeoutMs), async (lease) => {
      try {
        return await this.#refreshLeased(google, lease, userId, force)
      } catch (err) {
        // The lease expired while Google or the vault answered and another writer took it: nothing more was written.
        if (err instanceof GrantLeaseLostError) return { superseded: true }
        throw err
      }
    })
    // The event is written once the lease is released: the grant writer's work is done.
    if ('reconnect' in outcome) {
      await this.#events.record('GMAIL_RECONNECT_REQUIRED', { userId, detail: { reason: outcome.reconnect } })
      throw Errors.reconnectRequired()
    }
    // Another writer replaced the grant while Google answered (possible only if our lease was lost): start over
    // once on whatever is current. Not through get(): this very flight is still registered for the user.
    if ('superseded' in outcome) {
      if (retried) throw new Error('the Gmail grant was replaced during two refreshes in a row')
      return await this.#refreshUnderLock(userId, force, true)
    }
    return outcome.token
  }

  async #refreshLeased (google: GoogleGateway, lease: GrantLease, userId: string, force: boolean): Promise<Outcome> {
    // Re-checked under the lease: the loser of a race finds the winner's fresh token below.
    const row = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
    assertUsable(row)
    const bundle = await this.#vault.get(userId)
    if (bundle == null) {
      await lease.write(async (tx) => await tx.gmailConnection.update({ where: { userId }, data: { state: 'RECONNECT_REQUIRED', stateReason: 'VAULT_SECRET_MISSING', accessTokenExpiresAt: null } }))
      this.#metrics?.gmailTokenRefresh('vault_secret_missing')
      return { reconnect: 'VAULT_SECRET_MISSING' }
    }
    const now = this.#clock.now().getTime()
    if (!force && bundle.expiryDate - now > this.#marginMs) {
      // The secret can be a refresh ahead of the row (a crash between the vault write and the row update below):
      // catch the row up, or every later call would take this lease again until the next real refresh.
      if (row.accessTokenExpiresAt?.getTime() !== bundle.expiryDate) {
        await lease.write(async (tx) => await tx.gmailConnection.updateMany({ where: { userId, connectedAt: row.connectedAt, grantHash: row.grantHash }, data: { accessTokenExpiresAt: new Date(bundle.expiryDate) } }))
      }
      this.#cache.set(userId, { accessToken: bundle.accessToken, expiryDate: bundle.expiryDate, version: versionOf(row) })
      this.#metrics?.gmailTokenRefresh('already_fresh')
      return { token: bundle.accessToken }
    }
    // The grant this refresh works on. Everything written below is conditional on it still being the current one.
    const grant = grantHashOf(bundle.refreshToken)
    let fresh: GoogleTokens
    try {
      fresh = await google.refresh(bundle.refreshToken, bundle.clientId)
    } catch (err) {
      if (!(err instanceof GoogleInvalidGrantError)) throw err
      // Revoked by the user, expired, password changed, token limit… Google does not say which; all mean the
      // same: this grant is dead. Delete it, and only it (compare-and-delete), then ask for a new one.
      const dropped = await this.#dropDeadGrant(lease, userId, row, (held) => grantHashOf(held.refreshToken) === grant, 'INVALID_GRANT')
      if ('reconnect' in dropped) this.#metrics?.gmailTokenRefresh('invalid_grant')
      return dropped
    }
    // Google answered slowly: make sure nobody replaced the grant meanwhile (under the lease nobody can unless it
    // expired) before the vault is written; renewing fails closed if the lease was lost.
    if (!(await this.#stillCurrent(userId, row))) return { superseded: true }
    const next: GmailTokenBundle = {
      ...bundle,
      accessToken: fresh.accessToken,
      // A refresh response normally has no refresh_token: keep the one we hold.
      refreshToken: fresh.refreshToken ?? bundle.refreshToken,
      expiryDate: now + fresh.expiresIn * 1000,
      scope: fresh.scope.length > 0 ? fresh.scope : bundle.scope,
      obtainedAt: now
    }
    await lease.renew()
    await this.#vault.put(userId, next)
    const data = {
      accessTokenExpiresAt: new Date(next.expiryDate),
      lastRefreshedAt: new Date(now),
      grantedScopes: next.scope,
      vaultVersion: { increment: 1 },
      grantHash: grantHashOf(next.refreshToken),
      ...googleTokenIdentifiers(next.refreshToken)
    }
    // Compare-and-set on the grant's identity (fenced by the lease), then read back for the cache version.
    const updated = await lease.write(async (tx) => {
      const stored = await tx.gmailConnection.updateMany({ where: { userId, connectedAt: row.connectedAt, grantHash: row.grantHash }, data })
      return stored.count === 1 ? await tx.gmailConnection.findUniqueOrThrow({ where: { userId } }) : null
    })
    if (updated == null) return { superseded: true }
    this.#cache.set(userId, { accessToken: next.accessToken, expiryDate: next.expiryDate, version: versionOf(updated) })
    this.#metrics?.gmailTokenRefresh('refreshed')
    return { token: next.accessToken }
  }

  /** The row is the one read before Google was asked: same connection, same grant. */
  async #stillCurrent (userId: string, seen: GmailConnection): Promise<boolean> {
    const now = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
    return now != null && now.connectedAt.getTime() === seen.connectedAt.getTime() && now.grantHash === seen.grantHash
  }

  /**
   * The one way a dead grant goes (invalid_grant, or Google's RISC revocation): delete the secret only if it still
   * holds the dead grant (`isDead`), and flag only that connection, with `reason`.
   */
  async #dropDeadGrant (lease: GrantLease, userId: string, seen: GmailConnection, isDead: (held: GmailTokenBundle) => boolean, reason: string): Promise<Outcome> {
    this.#cache.delete(userId)
    if (!(await this.#stillCurrent(userId, seen))) return { superseded: true }
    const held = await this.#vault.get(userId)
    if (held != null && !isDead(held)) return { superseded: true }
    if (held != null) {
      await lease.renew()
      await this.#vault.delete(userId)
    }
    await lease.write(async (tx) => await tx.gmailConnection.updateMany({
      where: { userId, connectedAt: seen.connectedAt, grantHash: seen.grantHash },
      data: { state: 'RECONNECT_REQUIRED', stateReason: reason, accessTokenExpiresAt: null, refreshTokenPrefix: null, refreshTokenHash: null }
    }))
    return { reconnect: reason }
  }
}

type Outcome = { token: string } | { reconnect: string } | { superseded: true }

/** Which grant a RISC event names: by Google account (`tokens-revoked`) or by a refresh token identifier (`token-revoked`). */
export type RevokedGrant = { googleSub: string } | { refreshTokenPrefix: string } | { refreshTokenHash: string }

function namesGrant (revoked: RevokedGrant, held: GmailTokenBundle): boolean {
  if ('googleSub' in revoked) return held.googleSub === revoked.googleSub
  const ids = googleTokenIdentifiers(held.refreshToken)
  return 'refreshTokenPrefix' in revoked ? ids.refreshTokenPrefix === revoked.refreshTokenPrefix : ids.refreshTokenHash === revoked.refreshTokenHash
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
