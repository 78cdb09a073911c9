import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import { isUniqueViolation } from '../db/prisma-errors.ts'
import { googleTokenIdentifiers } from '../crypto/hashing.ts'
import { AppError, Errors, Reasons } from '../errors.ts'
import type { GmailConnection, PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway, GoogleTokens } from '../google/google-gateway.ts'
import { GMAIL_READONLY, GoogleInvalidGrantError, GoogleRejectedError, grantsGmailRead } from '../google/google-gateway.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { GmailTokenBundle, TokenVault } from '../vault/index.ts'
import type { GmailAccessTokens } from './gmail-access-tokens.ts'
import { gmailScopesBeyond } from './gmail-scopes.ts'
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

/**
 * The step-up the caller requires before a connect replaces the held grant with another Google account's (a
 * recent sign-in or the password: accounts/step-up.ts); throws REAUTH_REQUIRED. Run only when a switch is seen.
 */
export type SwitchCheck = () => Promise<void>

/** A grant we were handed, as far as Google identified it: what to revoke if the connect is refused. */
interface Handed {
  token: string
  sub: string
  clientId: string
  refreshToken: string | null
}

function refusal (err: unknown): unknown {
  if (err instanceof GoogleInvalidGrantError) return Errors.googleRejectedGrant()
  if (err instanceof GoogleRejectedError) return Errors.googleRejectedCredentials()
  return err
}

type Stored =
  | { refused: 'in_use' | 'scope_missing' | 'account_gone' | 'switch_needs_step_up' }
  | { row: GmailConnection, previous: GmailConnection | null, oldBundle: GmailTokenBundle | null }

interface ValidatedTokens extends GoogleTokens {
  expiryDate: number
  /** Null only for a grant without Gmail read access from the browser flow (refused as SCOPE_MISSING). */
  refreshToken: string | null
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
  readonly #events: AuditLog
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger
  readonly #tokens: GmailAccessTokens
  readonly #gmailScopes: readonly string[]

  constructor (deps: { prisma: PrismaClient, vault: TokenVault, google: GoogleGateway | null, auditLog: AuditLog, clock: Clock, log: FastifyBaseLogger, tokens: GmailAccessTokens, gmailScopes: readonly string[] }) {
    this.#prisma = deps.prisma
    this.#vault = deps.vault
    this.#google = deps.google
    this.#events = deps.auditLog
    this.#clock = deps.clock
    this.#log = deps.log
    this.#tokens = deps.tokens
    this.#gmailScopes = deps.gmailScopes
  }

  #requireGoogle (): GoogleGateway {
    if (this.#google == null) throw Errors.googleNotConfigured()
    return this.#google
  }

  async connect (userId: string, input: ConnectGmailInput, meta: ConnectMeta, mayReplace: SwitchCheck): Promise<Connected> {
    const google = this.#requireGoogle()
    return await this.#store(google, userId, await this.#obtainTokens(google, input), meta, mayReplace)
  }

  /**
   * Takes custody of tokens the web client just obtained in the redirect flow (GET /auth/google/callback with
   * gmail=1): same checks and the same outcomes as `connect`.
   */
  async connectExchanged (userId: string, exchanged: GoogleTokens, meta: ConnectMeta, mayReplace: SwitchCheck): Promise<Connected> {
    const google = this.#requireGoogle()
    if (exchanged.refreshToken == null && grantsGmailRead(exchanged.scope)) {
      throw Errors.exchangeWithoutRefreshToken()
    }
    const tokens = await this.#validate(google, exchanged, google.config.clientId).catch((err: unknown) => { throw refusal(err) })
    return await this.#store(google, userId, tokens, meta, mayReplace)
  }

  /**
   * Refuses a connect after Google identified the grant handed in: revokes it at Google first (nobody would track a
   * grant we do not keep), unless it is a grant we hold. Google revokes a whole grant (one Google account, one
   * client) whichever of its tokens is named, so a token of the same account through the same client as a held
   * grant is that grant: revoking it would end the connection the refusal meant to leave alone. Best effort: a
   * revocation Google does not take is logged, and the refusal stands.
   */
  async #refuse (google: GoogleGateway, handed: Handed[], err: AppError): Promise<never> {
    for (const grant of handed) {
      if (await this.#isHeld(grant)) continue
      await google.revoke(grant.token).catch((revokeErr: unknown) => {
        this.#log.warn({ err: { name: (revokeErr as Error).name, message: (revokeErr as Error).message }, refused: err.reason ?? err.code }, 'could not revoke a Gmail grant refused at connect')
      })
    }
    throw err
  }

  async #isHeld (grant: Handed): Promise<boolean> {
    const row = await this.#prisma.gmailConnection.findUnique({ where: { googleSub: grant.sub }, select: { state: true, clientId: true, grantHash: true } })
    if (row == null || row.state !== 'ACTIVE') return false
    return row.clientId === grant.clientId || (grant.refreshToken != null && row.grantHash === grantHashOf(grant.refreshToken))
  }

  async #store (google: GoogleGateway, userId: string, tokens: ValidatedTokens, meta: ConnectMeta, mayReplace: SwitchCheck): Promise<Connected> {
    const handed: Handed = { token: tokens.refreshToken ?? tokens.accessToken, refreshToken: tokens.refreshToken, sub: tokens.sub, clientId: tokens.clientId }
    // Least privilege: a grant that could change, send or delete mail is not kept to be handed out as "read".
    const extraScopes = gmailScopesBeyond(tokens.scope, this.#gmailScopes)
    if (extraScopes.length > 0) {
      await this.#events.record('GMAIL_CONNECT_REFUSED', { userId, ...meta, detail: { reason: Reasons.SCOPE_TOO_BROAD, extraScopes } })
      return await this.#refuse(google, [handed], Errors.scopeTooBroad({ extraScopes, allowedScopes: [...this.#gmailScopes] }))
    }
    // Replacing the held grant with another Google account's is a step-up (issue 21 item 4): an access token proves a
    // session, not the person, and a stolen one must not swap the mailbox (the old grant is revoked). Only Google's
    // answer says which account this grant is for, so it is judged here; the step-up (a password hash, a security
    // event) runs before the lock, and the lock re-checks: nothing is written and the held grant stays unless it passed.
    let steppedUp = false
    const stepUp = async () => {
      await mayReplace().catch(async (err: unknown) => {
        if (err instanceof AppError) {
          await this.#events.record('GMAIL_CONNECT_REFUSED', { userId, ...meta, detail: { reason: err.code } })
          return await this.#refuse(google, [handed], err)
        }
        throw err
      })
      steppedUp = true
    }
    // (A grant without Gmail read access replaces nothing: it is refused as SCOPE_MISSING under the lock.)
    if (grantsGmailRead(tokens.scope) && replacesHeld(await this.#prisma.gmailConnection.findUnique({ where: { userId } }), tokens)) await stepUp()
    // Google has validated the tokens already (outside the lock: those calls need none). From here on this is
    // the user's only grant writer, so a refresh of the previous grant still waiting on Google finishes (and
    // stores, or cleans up its own dead grant) before this one replaces it, never after.
    const attempt = async () => await withGrantLock(this.#prisma, userId, grantLockHoldMs(google.config.timeoutMs), async (lease) => await this.#storeLocked(lease, userId, tokens, steppedUp))
      .catch((err: unknown): Stored => {
        // Another user took this Google account for a row without the scope at the same moment: nothing to keep.
        if (isUniqueViolation(err) && !grantsGmailRead(tokens.scope)) return { refused: 'scope_missing' }
        throw err
      })
    let stored = await attempt()
    if ('refused' in stored && stored.refused === 'switch_needs_step_up') {
      // Another connect stored a grant between the look above and the lock: the switch is judged again, once.
      await stepUp()
      stored = await attempt()
    }
    if ('refused' in stored) {
      if (stored.refused === 'account_gone') {
        // The account was deleted (or is being deleted) while Google validated these tokens: nothing was stored, and
        // the grant minted for it goes too (best effort: nobody is left to use it), unless it is a grant held here.
        return await this.#refuse(google, [handed], Errors.sessionRevoked())
      }
      if (stored.refused === 'in_use') {
        await this.#events.record('GMAIL_CONNECT_REFUSED', { userId, ...meta, detail: { reason: 'GOOGLE_ACCOUNT_IN_USE' } })
        return await this.#refuse(google, [handed], Errors.gmailConnectedToAnother())
      }
      if (stored.refused === 'switch_needs_step_up') throw Errors.internal()
      return await this.#refuse(google, [handed], Errors.scopeMissing({ missingScopes: [GMAIL_READONLY] }))
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

  async #storeLocked (lease: GrantLease, userId: string, tokens: ValidatedTokens, steppedUp: boolean): Promise<Stored> {
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

    // Before anything is written: a switch the step-up did not clear leaves the held grant as it is.
    const previous = await db.gmailConnection.findUnique({ where: { userId } })
    if (!steppedUp && replacesHeld(previous, tokens)) return { refused: 'switch_needs_step_up' }

    const owner = await db.gmailConnection.findUnique({ where: { googleSub: tokens.sub } })
    if (owner != null && owner.userId !== userId) {
      if (owner.state === 'ACTIVE') return { refused: 'in_use' }
      // The other user's grant is already gone (reconnect required / scope missing): the account is free. Only if
      // it still is so: that user's lease is not ours, so the delete is conditional instead.
      const freed = await lease.write(async (tx) => await tx.gmailConnection.deleteMany({ where: { userId: owner.userId, googleSub: tokens.sub, state: { not: 'ACTIVE' } } }))
      if (freed.count === 0) return { refused: 'in_use' }
    }

    // Both ways in guarantee it for a grant that reads Gmail (connectExchanged, #obtainTokens).
    if (tokens.refreshToken == null) throw Errors.exchangeWithoutRefreshToken()
    const refreshToken = tokens.refreshToken
    const oldBundle = previous != null && previous.googleSub !== tokens.sub ? await this.#vault.get(userId) : null

    const bundle: GmailTokenBundle = {
      version: 1,
      accessToken: tokens.accessToken,
      refreshToken,
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
    const grantHash = grantHashOf(refreshToken)
    const row = await lease.write(async (tx) => await tx.gmailConnection.upsert({
      where: { userId },
      create: { userId, ...this.#rowFor(tokens, 'ACTIVE'), vaultVersion: 1, grantHash, ...googleTokenIdentifiers(refreshToken) },
      update: { ...this.#rowFor(tokens, 'ACTIVE'), connectedAt: this.#clock.now(), vaultVersion: { increment: 1 }, grantHash, ...googleTokenIdentifiers(refreshToken) }
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
        const refreshToken = refreshed.refreshToken ?? input.refreshToken
        tokens = { ...refreshed, refreshToken }
        const fresh = await google.tokenInfo(tokens.accessToken)
        if (fresh.sub !== presented.sub) {
          return await this.#refuse(google, [
            { token: refreshToken, refreshToken, sub: fresh.sub, clientId },
            { token: input.accessToken, refreshToken: null, sub: presented.sub, clientId: presented.azp }
          ], Errors.tokensOfTwoAccounts())
        }
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
      if (identity.sub !== info.sub) {
        const refreshToken = tokens.refreshToken
        return await this.#refuse(google, [{ token: refreshToken ?? tokens.accessToken, refreshToken, sub: info.sub, clientId }], Errors.idTokenOfAnotherAccount({ field: 'idToken' }))
      }
    }
    return {
      ...tokens,
      expiryDate: this.#clock.now().getTime() + tokens.expiresIn * 1000,
      clientId,
      sub: info.sub,
      email: info.email,
      scope: info.scope.length > 0 ? info.scope : tokens.scope
    }
  }
}

/** Whether storing `tokens` would replace a held grant (an ACTIVE connection) with another Google account's. */
function replacesHeld (held: GmailConnection | null, tokens: { sub: string }): boolean {
  return held != null && held.state === 'ACTIVE' && held.googleSub !== tokens.sub
}
