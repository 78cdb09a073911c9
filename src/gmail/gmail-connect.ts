import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import { isUniqueViolation } from '../db/prisma-errors.ts'
import { googleTokenIdentifiers } from '../crypto/hashing.ts'
import { Errors } from '../errors.ts'
import type { GmailConnection, PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway, GoogleTokens } from '../google/google-gateway.ts'
import { GMAIL_READONLY, GoogleInvalidGrantError, GoogleRejectedError, grantsGmailRead } from '../google/google-gateway.ts'
import type { SecurityEvents } from '../security-events/security-events.ts'
import type { GmailTokenBundle, TokenVault } from '../vault/index.ts'
import type { GmailAccessTokens } from './gmail-access-tokens.ts'
import { grantHashOf, grantLockHoldMs, withGrantLock } from './grant-lock.ts'
import type { GrantLease } from './grant-lock.ts'

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

export type ConnectMeta = { ip?: string | null, userAgent?: string | null }

export interface Connected { status: GmailStatusView, warnings: Warning[] }

function refusal (err: unknown): unknown {
  if (err instanceof GoogleInvalidGrantError) return Errors.googleRejectedGrant()
  if (err instanceof GoogleRejectedError) return Errors.googleRejectedCredentials()
  return err
}

type Stored =
  | { refused: 'in_use' | 'scope_missing' | 'account_gone' }
  | { row: GmailConnection, previous: GmailConnection | null, oldBundle: GmailTokenBundle | null }

interface ValidatedTokens extends GoogleTokens {
  expiryDate: number
  refreshToken: string
  clientId: string
  sub: string
  email: string | null
}

/**
 * Taking custody of a Gmail grant: obtain the tokens (from a server auth code, or tokens an app hands over),
 * validate them with Google itself (client, identity, scopes), then store them: the refresh token in the vault,
 * the connection's state in the database.
 */
export class GmailConnect {
  readonly #prisma: PrismaClient
  readonly #vault: TokenVault
  readonly #google: GoogleGateway | null
  readonly #events: SecurityEvents
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger
  readonly #tokens: GmailAccessTokens

  constructor (deps: { prisma: PrismaClient, vault: TokenVault, google: GoogleGateway | null, securityEvents: SecurityEvents, clock: Clock, log: FastifyBaseLogger, tokens: GmailAccessTokens }) {
    this.#prisma = deps.prisma
    this.#vault = deps.vault
    this.#google = deps.google
    this.#events = deps.securityEvents
    this.#clock = deps.clock
    this.#log = deps.log
    this.#tokens = deps.tokens
  }

  #requireGoogle (): GoogleGateway {
    if (this.#google == null) throw Errors.googleNotConfigured()
    return this.#google
  }

  async connect (userId: string, input: ConnectGmailInput, meta: ConnectMeta = {}): Promise<Connected> {
    const google = this.#requireGoogle()
    return await this.#store(google, userId, await this.#obtainTokens(google, input), meta)
  }

  /**
   * Takes custody of tokens the web client just obtained in the redirect flow (GET /auth/google/callback with
   * gmail=1): same checks and the same outcomes as `connect`.
   */
  async connectExchanged (userId: string, exchanged: GoogleTokens, meta: ConnectMeta = {}): Promise<Connected> {
    const google = this.#requireGoogle()
    if (exchanged.refreshToken == null && grantsGmailRead(exchanged.scope)) {
      throw Errors.exchangeWithoutRefreshToken()
    }
    const tokens = await this.#validate(google, exchanged, google.config.clientId).catch((err: unknown) => { throw refusal(err) })
    return await this.#store(google, userId, tokens, meta)
  }

  async #store (google: GoogleGateway, userId: string, tokens: ValidatedTokens, meta: ConnectMeta): Promise<Connected> {
    // Google has validated the tokens already (outside the lock: those calls need none). From here on this is
    // the user's only grant writer, so a refresh of the previous grant still waiting on Google finishes (and
    // stores, or cleans up its own dead grant) before this one replaces it, never after.
    const stored = await withGrantLock(this.#prisma, userId, grantLockHoldMs(google.config.timeoutMs), async (lease) => await this.#storeLocked(lease, userId, tokens))
      .catch((err: unknown): Stored => {
        // Another user took this Google account for a row without the scope at the same moment: nothing to keep.
        if (isUniqueViolation(err) && !grantsGmailRead(tokens.scope)) return { refused: 'scope_missing' }
        throw err
      })
    if ('refused' in stored) {
      if (stored.refused === 'account_gone') {
        // The account was deleted (or is being deleted) while Google validated these tokens: nothing was stored, and
        // the grant minted for it goes too (best effort: nobody is left to use it).
        await google.revoke(tokens.refreshToken).catch((err: unknown) => {
          this.#log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, userId }, 'could not revoke a Gmail grant refused for a deleted account')
        })
        throw Errors.sessionRevoked()
      }
      if (stored.refused === 'in_use') {
        await this.#events.record('GMAIL_CONNECT_REFUSED', { userId, ...meta, detail: { reason: 'GOOGLE_ACCOUNT_IN_USE' } })
        throw Errors.gmailConnectedToAnother()
      }
      throw Errors.scopeMissing({ missingScopes: [GMAIL_READONLY] })
    }
    this.#tokens.forget(userId)
    const { row, previous, oldBundle } = stored
    const warnings: Warning[] = []
    if (previous != null && previous.googleSub !== tokens.sub) {
      warnings.push({
        code: 'ACCOUNT_SWITCHED',
        message: `Gmail is now connected to ${tokens.email ?? 'another Google account'} instead of ${previous.googleEmail ?? 'the account connected before'}`
      })
      await this.#events.record('GMAIL_ACCOUNT_SWITCHED', { userId, ...meta, detail: { from: previous.googleEmail, to: tokens.email } })
      if (oldBundle != null) {
        // Best effort, after the lock: the new grant is in place whatever happens here; a grant left at Google is logged.
        await google.revoke(oldBundle.refreshToken).catch((err: unknown) => {
          this.#log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, userId }, 'could not revoke the previous Gmail grant at Google')
        })
      }
    }
    await this.#events.record('GMAIL_CONNECTED', { userId, ...meta, detail: { googleEmail: tokens.email, clientId: tokens.clientId } })
    return { status: row, warnings }
  }

  async #storeLocked (lease: GrantLease, userId: string, tokens: ValidatedTokens): Promise<Stored> {
    // Re-checked under the lease account deletion also takes: a connect that passed authentication before the
    // deletion must not store a secret after it (the row would cascade away, the secret would stay, live).
    const db = this.#prisma
    const user = await db.user.findUnique({ where: { id: userId }, select: { deletionRequestedAt: true } })
    if (user == null || user.deletionRequestedAt != null) return { refused: 'account_gone' }
    if (!grantsGmailRead(tokens.scope)) {
      // No vault or Google call on this path: one fenced transaction.
      return await lease.write(async (tx) => {
        const existing = await tx.gmailConnection.findUnique({ where: { userId } })
        // A working connection is not given up because a new attempt lacked the scope.
        if (existing == null || existing.state !== 'ACTIVE') {
          const owner = await tx.gmailConnection.findUnique({ where: { googleSub: tokens.sub } })
          if (owner == null || owner.userId === userId) {
            await tx.gmailConnection.upsert({
              where: { userId },
              create: { userId, ...this.#rowFor(tokens, 'SCOPE_MISSING') },
              update: { ...this.#rowFor(tokens, 'SCOPE_MISSING') }
            })
          }
        }
        return { refused: 'scope_missing' }
      })
    }

    const owner = await db.gmailConnection.findUnique({ where: { googleSub: tokens.sub } })
    if (owner != null && owner.userId !== userId) {
      if (owner.state === 'ACTIVE') return { refused: 'in_use' }
      // The other user's grant is already gone (reconnect required / scope missing): the account is free. Only if
      // it still is so: that user's lease is not ours, so the delete is conditional instead.
      const freed = await lease.write(async (tx) => await tx.gmailConnection.deleteMany({ where: { userId: owner.userId, googleSub: tokens.sub, state: { not: 'ACTIVE' } } }))
      if (freed.count === 0) return { refused: 'in_use' }
    }

    const previous = await db.gmailConnection.findUnique({ where: { userId } })
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
    await lease.renew()
    await this.#vault.put(userId, bundle)
    const grantHash = grantHashOf(tokens.refreshToken)
    const row = await lease.write(async (tx) => await tx.gmailConnection.upsert({
      where: { userId },
      create: { userId, ...this.#rowFor(tokens, 'ACTIVE'), vaultVersion: 1, grantHash, ...googleTokenIdentifiers(tokens.refreshToken) },
      update: { ...this.#rowFor(tokens, 'ACTIVE'), connectedAt: this.#clock.now(), vaultVersion: { increment: 1 }, grantHash, ...googleTokenIdentifiers(tokens.refreshToken) }
    }))
    return { row, previous, oldBundle }
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
      lastRefreshedAt: null,
      // A (re)connected grant is watched afresh by the Gmail push job (src/events/), history from its watch on.
      historyId: null,
      watchExpiresAt: null,
      watchRenewAt: null
    }
  }

  /** Turns what the app sent into tokens whose client, identity and scopes come from Google itself. */
  async #obtainTokens (google: GoogleGateway, input: ConnectGmailInput): Promise<ValidatedTokens> {
    const hasCode = input.serverAuthCode != null && input.serverAuthCode !== ''
    const hasTokens = input.accessToken != null || input.refreshToken != null
    if (hasCode === hasTokens) throw Errors.connectInputShape()
    try {
      let tokens: GoogleTokens
      let clientId: string
      if (hasCode) {
        // A server auth code (iOS with GIDServerClientID) is redeemed by the web client, with no redirect_uri.
        tokens = await google.exchangeCode(input.serverAuthCode!)
        clientId = google.config.clientId
        if (tokens.refreshToken == null) {
          throw Errors.codeWithoutRefreshToken({ field: 'serverAuthCode' })
        }
      } else {
        if (input.accessToken == null || input.refreshToken == null) {
          throw Errors.connectTokensIncomplete({ field: input.accessToken == null ? 'accessToken' : 'refreshToken' })
        }
        // Which client minted these tokens? Only Google can say; it must be one of ours.
        const presented = await google.tokenInfo(input.accessToken)
        if (!google.acceptedClientIds.includes(presented.azp) || !google.acceptedClientIds.includes(presented.aud)) {
          throw Errors.tokensOfAnotherApp({ field: 'accessToken' })
        }
        clientId = presented.azp
        // Refreshing now proves the refresh token works with that client before we take custody of it.
        const refreshed = await google.refresh(input.refreshToken, clientId)
        tokens = { ...refreshed, refreshToken: refreshed.refreshToken ?? input.refreshToken }
        const fresh = await google.tokenInfo(tokens.accessToken)
        if (fresh.sub !== presented.sub) throw Errors.tokensOfTwoAccounts()
      }
      return await this.#validate(google, tokens, clientId, input.idToken)
    } catch (err) {
      throw refusal(err)
    }
  }

  /** Identity and scopes as Google reports them for the token we will hold. */
  async #validate (google: GoogleGateway, tokens: GoogleTokens, clientId: string, idToken?: string | null): Promise<ValidatedTokens> {
    const info = await google.tokenInfo(tokens.accessToken)
    if (!google.acceptedClientIds.includes(info.aud)) throw Errors.tokensOfAnotherApp()
    if (idToken != null && idToken !== '') {
      const identity = await google.verifyIdToken(idToken)
      if (identity.sub !== info.sub) throw Errors.idTokenOfAnotherAccount({ field: 'idToken' })
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
}
