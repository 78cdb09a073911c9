import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import { AppError, badUserInput, conflict, ErrorCodes } from '../errors.ts'
import type { GmailConnection, PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway, GoogleTokens } from '../google/google-gateway.ts'
import { GMAIL_READONLY, GoogleInvalidGrantError, GoogleRejectedError, grantsGmailRead } from '../google/google-gateway.ts'
import type { ServiceMetrics } from '../metrics/metrics.ts'
import type { SecurityEvents } from '../security-events/security-events.ts'
import type { GmailTokenBundle, TokenVault } from '../vault/index.ts'

export interface ConnectGmailInput {
  serverAuthCode?: string | null
  accessToken?: string | null
  refreshToken?: string | null
  idToken?: string | null
}

export interface Warning { code: string, message: string }

export interface GmailStatusView {
  state: 'NOT_CONNECTED' | GmailConnection['state']
  googleEmail: string | null
  grantedScopes: string[]
  missingScopes: string[]
  accessTokenExpiresAt: Date | null
  connectedAt: Date | null
  lastRefreshedAt: Date | null
}

const NOT_CONNECTED: GmailStatusView = {
  state: 'NOT_CONNECTED', googleEmail: null, grantedScopes: [], missingScopes: [], accessTokenExpiresAt: null, connectedAt: null, lastRefreshedAt: null
}

const reconnectRequired = () => new AppError(ErrorCodes.RECONNECT_REQUIRED, 'Gmail access was revoked or has expired: connect Gmail again')
const scopeMissing = (missing: string[]) =>
  new AppError(ErrorCodes.SCOPE_MISSING, 'Gmail read access was not granted: connect again and allow "Read your email"', { missingScopes: missing })
type ConnectMeta = { ip?: string | null, userAgent?: string | null }

function refusal (err: unknown): unknown {
  if (err instanceof GoogleInvalidGrantError) return badUserInput('Google rejected the code or token (expired, used or revoked): sign in with Google again')
  if (err instanceof GoogleRejectedError) return badUserInput('Google rejected these credentials: sign in with Google again')
  return err
}

const notConnected = () => new AppError(ErrorCodes.GMAIL_NOT_CONNECTED, 'Gmail is not connected')

/**
 * Custody of users' Gmail grants. The refresh token lives only in the vault; the database row says where
 * the connection stands. The rules that matter at night:
 * - only Google's `invalid_grant` deletes a grant (then RECONNECT_REQUIRED); a 5xx, a timeout or a vault
 *   outage deletes nothing and surfaces as a retryable GOOGLE_UNAVAILABLE / VAULT_UNAVAILABLE;
 * - near expiry, concurrent callers share one refresh: one flight per user in this process, and a row
 *   lock (SELECT … FOR UPDATE) across processes, re-checked under the lock.
 */
export class GmailConnections {
  readonly #prisma: PrismaClient
  readonly #vault: TokenVault
  readonly #google: GoogleGateway | null
  readonly #events: SecurityEvents
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger
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

  constructor (deps: { prisma: PrismaClient, vault: TokenVault, google: GoogleGateway | null, securityEvents: SecurityEvents, clock: Clock, log: FastifyBaseLogger, refreshMarginSeconds: number, metrics?: Pick<ServiceMetrics, 'gmailTokenRefresh'> }) {
    this.#prisma = deps.prisma
    this.#vault = deps.vault
    this.#google = deps.google
    this.#events = deps.securityEvents
    this.#clock = deps.clock
    this.#log = deps.log
    this.#marginMs = deps.refreshMarginSeconds * 1000
    this.#metrics = deps.metrics
  }

  #requireGoogle (): GoogleGateway {
    if (this.#google == null) throw new AppError(ErrorCodes.GOOGLE_NOT_CONFIGURED, 'Google is not configured on this server (GOOGLE_CLIENT_ID)')
    return this.#google
  }

  /** Database only: no vault read, no Google call. */
  async status (userId: string): Promise<GmailStatusView> {
    return (await this.#prisma.gmailConnection.findUnique({ where: { userId } })) ?? NOT_CONNECTED
  }

  async connect (userId: string, input: ConnectGmailInput, meta: ConnectMeta = {}): Promise<{ status: GmailStatusView, warnings: Warning[] }> {
    const google = this.#requireGoogle()
    return await this.#store(google, userId, await this.#obtainTokens(google, input), meta)
  }

  /**
   * Takes custody of tokens the web client just obtained in the redirect flow (GET /auth/google/callback with
   * gmail=1): same checks and the same outcomes as `connect`.
   */
  async connectExchanged (userId: string, exchanged: GoogleTokens, meta: ConnectMeta = {}): Promise<{ status: GmailStatusView, warnings: Warning[] }> {
    const google = this.#requireGoogle()
    if (exchanged.refreshToken == null && grantsGmailRead(exchanged.scope)) {
      throw badUserInput('Google returned no refresh token: connect again (the consent screen must ask for offline access)')
    }
    const tokens = await this.#validate(google, exchanged, google.config.clientId).catch((err: unknown) => { throw refusal(err) })
    return await this.#store(google, userId, tokens, meta)
  }

  async #store (google: GoogleGateway, userId: string, tokens: ValidatedTokens, meta: ConnectMeta): Promise<{ status: GmailStatusView, warnings: Warning[] }> {
    const warnings: Warning[] = []

    if (!grantsGmailRead(tokens.scope)) {
      const existing = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
      // A working connection is not given up because a new attempt lacked the scope.
      if (existing == null || existing.state !== 'ACTIVE') {
        await this.#prisma.gmailConnection.upsert({
          where: { userId },
          create: { userId, ...this.#rowFor(tokens, 'SCOPE_MISSING') },
          update: { ...this.#rowFor(tokens, 'SCOPE_MISSING') }
        }).catch((err) => { if (!isUniqueViolation(err)) throw err })
      }
      throw scopeMissing([GMAIL_READONLY])
    }

    const owner = await this.#prisma.gmailConnection.findUnique({ where: { googleSub: tokens.sub } })
    if (owner != null && owner.userId !== userId) {
      if (owner.state === 'ACTIVE') {
        await this.#events.record('GMAIL_CONNECT_REFUSED', { userId, ...meta, detail: { reason: 'GOOGLE_ACCOUNT_IN_USE' } })
        throw conflict('This Google account is already connected to another user')
      }
      // The other user's grant is already gone (reconnect required / scope missing): the account is free.
      await this.#prisma.gmailConnection.delete({ where: { userId: owner.userId } })
    }

    const previous = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
    const oldBundle = previous != null && previous.googleSub !== tokens.sub ? await this.#vault.get(userId) : null

    const bundle: GmailTokenBundle = {
      version: 1,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiryDate: tokens.expiryDate,
      scope: tokens.scope,
      clientId: tokens.clientId,
      googleSub: tokens.sub,
      email: tokens.email ?? '',
      obtainedAt: this.#clock.now().getTime()
    }
    // Vault first, then the row: a failure in between leaves a secret without an ACTIVE row, which the
    // next connect overwrites; never an ACTIVE row without its secret.
    await this.#vault.put(userId, bundle)
    const row = await this.#prisma.gmailConnection.upsert({
      where: { userId },
      create: { userId, ...this.#rowFor(tokens, 'ACTIVE'), vaultVersion: 1 },
      update: { ...this.#rowFor(tokens, 'ACTIVE'), connectedAt: this.#clock.now(), vaultVersion: { increment: 1 } }
    })
    this.#cache.delete(userId)

    if (previous != null && previous.googleSub !== tokens.sub) {
      warnings.push({
        code: 'ACCOUNT_SWITCHED',
        message: `Gmail is now connected to ${tokens.email ?? 'another Google account'} instead of ${previous.googleEmail ?? 'the account connected before'}`
      })
      await this.#events.record('GMAIL_ACCOUNT_SWITCHED', { userId, ...meta, detail: { from: previous.googleEmail, to: tokens.email } })
      if (oldBundle != null) {
        // Best effort: the new grant is in place whatever happens here; a grant left at Google is logged.
        await google.revoke(oldBundle.refreshToken).catch((err: unknown) => {
          this.#log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, userId }, 'could not revoke the previous Gmail grant at Google')
        })
      }
    }
    await this.#events.record('GMAIL_CONNECTED', { userId, ...meta, detail: { googleEmail: tokens.email, clientId: tokens.clientId } })
    return { status: row, warnings }
  }

  #rowFor (tokens: ValidatedTokens, state: GmailConnection['state']) {
    const missing = grantsGmailRead(tokens.scope) ? [] : [GMAIL_READONLY]
    return {
      state,
      stateReason: state === 'ACTIVE' ? null : state,
      googleSub: tokens.sub,
      googleEmail: tokens.email,
      clientId: tokens.clientId,
      grantedScopes: tokens.scope,
      missingScopes: missing,
      accessTokenExpiresAt: state === 'ACTIVE' ? new Date(tokens.expiryDate) : null,
      lastRefreshedAt: null
    }
  }

  /** Turns what the app sent into tokens whose client, identity and scopes come from Google itself. */
  async #obtainTokens (google: GoogleGateway, input: ConnectGmailInput): Promise<ValidatedTokens> {
    const hasCode = input.serverAuthCode != null && input.serverAuthCode !== ''
    const hasTokens = input.accessToken != null || input.refreshToken != null
    if (hasCode === hasTokens) throw badUserInput('Send either serverAuthCode, or accessToken and refreshToken')
    try {
      let tokens: GoogleTokens
      let clientId: string
      if (hasCode) {
        // A server auth code (iOS with GIDServerClientID) is redeemed by the web client, with no redirect_uri.
        tokens = await google.exchangeCode(input.serverAuthCode!)
        clientId = google.config.clientId
        if (tokens.refreshToken == null) {
          throw badUserInput('Google returned no refresh token: sign in again asking for offline access (prompt=consent)', { field: 'serverAuthCode' })
        }
      } else {
        if (input.accessToken == null || input.refreshToken == null) {
          throw badUserInput('accessToken and refreshToken are both required', { field: input.accessToken == null ? 'accessToken' : 'refreshToken' })
        }
        // Which client minted these tokens? Only Google can say; it must be one of ours.
        const presented = await google.tokenInfo(input.accessToken)
        if (!google.acceptedClientIds.includes(presented.azp) || !google.acceptedClientIds.includes(presented.aud)) {
          throw badUserInput('These tokens were issued to another application', { field: 'accessToken' })
        }
        clientId = presented.azp
        // Refreshing now proves the refresh token works with that client before we take custody of it.
        const refreshed = await google.refresh(input.refreshToken, clientId)
        tokens = { ...refreshed, refreshToken: refreshed.refreshToken ?? input.refreshToken }
        const fresh = await google.tokenInfo(tokens.accessToken)
        if (fresh.sub !== presented.sub) throw badUserInput('The access token and the refresh token belong to different Google accounts')
      }
      return await this.#validate(google, tokens, clientId, input.idToken)
    } catch (err) {
      throw refusal(err)
    }
  }

  /** Identity and scopes as Google reports them for the token we will hold. */
  async #validate (google: GoogleGateway, tokens: GoogleTokens, clientId: string, idToken?: string | null): Promise<ValidatedTokens> {
    const info = await google.tokenInfo(tokens.accessToken)
    if (!google.acceptedClientIds.includes(info.aud)) throw badUserInput('These tokens were issued to another application')
    if (idToken != null && idToken !== '') {
      const identity = await google.verifyIdToken(idToken)
      if (identity.sub !== info.sub) throw badUserInput('The ID token is for another Google account than the tokens', { field: 'idToken' })
    }
    return {
      ...tokens,
      refreshToken: tokens.refreshToken!,
      expiryDate: this.#clock.now().getTime() + tokens.expiresIn * 1000,
      clientId,
      sub: info.sub,
      email: info.email,
      scope: info.scope.length > 0 ? info.scope : tokens.scope
    }
  }

  /**
   * An access token valid for at least the refresh margin. Every Gmail call goes through here.
   */
  async getGmailAccessToken (userId: string): Promise<string> {
    const row = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
    this.#assertUsable(row)
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

  #assertUsable (row: GmailConnection | null): asserts row is GmailConnection {
    if (row == null) throw notConnected()
    if (row.state === 'RECONNECT_REQUIRED') throw reconnectRequired()
    if (row.state === 'SCOPE_MISSING') throw scopeMissing(row.missingScopes)
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
    const google = this.#requireGoogle()
    // Bounds the row lock: Google (up to 4 tries) plus the vault (AWS SDK: 3 tries × 3 s, read and write).
    const timeout = google.config.timeoutMs * 4 + 30_000
    const outcome: { token: string } | { reconnect: string } = await this.#prisma.$transaction(async (tx) => {
      // Serialises refreshers across processes; the loser finds the winner's fresh token below.
      await tx.$queryRaw`SELECT user_id FROM gmail_connections WHERE user_id = ${userId}::uuid FOR UPDATE`
      const row = await tx.gmailConnection.findUnique({ where: { userId } })
      this.#assertUsable(row)
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
        await this.#vault.delete(userId)
        await tx.gmailConnection.update({ where: { userId }, data: { state: 'RECONNECT_REQUIRED', stateReason: 'INVALID_GRANT', accessTokenExpiresAt: null } })
        this.#cache.delete(userId)
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
        data: { accessTokenExpiresAt: new Date(next.expiryDate), lastRefreshedAt: new Date(now), grantedScopes: next.scope, vaultVersion: { increment: 1 } }
      })
      this.#cache.set(userId, { accessToken: next.accessToken, expiryDate: next.expiryDate, version: versionOf(updated) })
      this.#metrics?.gmailTokenRefresh('refreshed')
      return { token: next.accessToken }
    }, { timeout, maxWait: timeout })
    // The RECONNECT_REQUIRED state must be committed first, so the error is raised after the transaction,
    // and the event is written outside it (on PGlite's single connection a second query inside would wait forever).
    if ('reconnect' in outcome) {
      await this.#events.record('GMAIL_RECONNECT_REQUIRED', { userId, detail: { reason: outcome.reconnect } })
      throw reconnectRequired()
    }
    return outcome.token
  }

  /** Revokes at Google first (the user asked to cut access), then deletes the secret and the row. */
  async disconnect (userId: string, meta: { ip?: string | null, userAgent?: string | null } = {}): Promise<GmailStatusView> {
    const row = await this.#prisma.gmailConnection.findUnique({ where: { userId } })
    if (row == null) return NOT_CONNECTED
    const bundle = row.state === 'SCOPE_MISSING' ? null : await this.#vault.get(userId)
    if (bundle != null) await this.#requireGoogle().revoke(bundle.refreshToken)
    await this.#vault.delete(userId)
    await this.#prisma.gmailConnection.delete({ where: { userId } })
    this.#cache.delete(userId)
    await this.#events.record('GMAIL_DISCONNECTED', { userId, ...meta })
    return NOT_CONNECTED
  }

  async profile (userId: string) {
    const google = this.#requireGoogle()
    const token = await this.getGmailAccessToken(userId)
    try {
      return await google.gmailProfile(token)
    } catch (err) {
      if (err instanceof GoogleRejectedError && err.status === 401) {
        // The token died early (e.g. revoked at Google): one forced refresh tells whether the grant lives.
        return await google.gmailProfile(await this.refreshNow(userId))
      }
      if (err instanceof GoogleRejectedError && err.status === 403) throw scopeMissing([GMAIL_READONLY])
      throw err
    }
  }
}

interface ValidatedTokens extends GoogleTokens {
  expiryDate: number
  refreshToken: string
  clientId: string
  sub: string
  email: string | null
}

/**
 * What a cached token is checked against: the vault version, and the connection's start, because a row
 * created again after a disconnect starts counting at 1 again (another process may still cache "1").
 */
function versionOf (row: GmailConnection): string {
  return `${row.vaultVersion}@${row.connectedAt.getTime()}`
}

function isUniqueViolation (err: unknown): boolean {
  return (err as { code?: string }).code === 'P2002'
}

declare module 'fastify' {
  interface FastifyInstance {
    gmail: GmailConnections
  }
}

export default fp(async (app) => {
  app.decorate('gmail', new GmailConnections({
    prisma: app.prisma,
    vault: app.vault,
    google: app.google,
    securityEvents: app.securityEvents,
    clock: app.clock,
    log: app.log,
    refreshMarginSeconds: app.config.GMAIL_REFRESH_MARGIN_SECONDS,
    metrics: app.metrics
  }))
}, { name: 'gmail', dependencies: ['prisma', 'vault', 'google', 'security-events', 'metrics'] })
