import type { GoogleAccountBlocks } from '../account-protection/google-account-blocks.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { isDatabaseUnavailable } from '../db/prisma-errors.ts'
import { isUuid } from '../db/uuid.ts'
import { AppError, ErrorCodes, Errors, isError, OAuthError, OAuthErrors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { GmailConnections } from '../gmail/gmail-connections.ts'
import type { Metrics } from '../metrics/metrics.ts'
import type { RateLimits } from '../rate-limits/rate-limits.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import type { AccessClaims } from '../sessions/access-tokens.ts'
import { requireLiveSession } from '../sessions/live-session.ts'
import type { LiveRow } from '../sessions/live-session.ts'
import type { LiveSessionCache } from '../sessions/live-session-cache.ts'
import type { ServiceAuthorizations } from './service-authorizations.ts'
import type { ServiceClient, ServiceClients } from './service-clients.ts'

export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const TOKEN_TYPE_GOOGLE_ACCESS_TOKEN = 'urn:inboxgate:params:oauth:token-type:google-access-token'
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
export const TOKEN_TYPE_USER_ID = 'urn:inboxgate:params:oauth:token-type:user-id'

/** How long a client should wait after Google, the vault or the database failed (they usually come back in seconds). */
const RETRY_AFTER_SECONDS = 5

export interface TokenRequest {
  /** The form's parameters, each present once (the route refuses repeats). */
  params: ReadonlyMap<string, string>
  authorization: string | undefined
  /** Verifies a subject token's signature, iss, typ and exp (any audience); `apiToken` for an API access token. */
  verifySubjectToken: (token: string) => Promise<AccessClaims & { apiToken: boolean }>
  ip: string
  userAgent: string | null
}

export interface TokenResponse {
  access_token: string
  issued_token_type: typeof TOKEN_TYPE_GOOGLE_ACCESS_TOKEN
  token_type: 'Bearer'
  expires_in: number
  scope: string
}

export interface TokenExchangeDeps {
  prisma: PrismaClient
  clock: Clock
  config: Pick<Config, 'REFRESH_TOKEN_IDLE_SECONDS'>
  liveSessionCache?: LiveSessionCache<LiveRow> | undefined
  clients: ServiceClients
  gmail: GmailConnections
  auditLog: AuditLog
  metrics: Pick<Metrics, 'tokenExchange'>
  rateLimits: Pick<RateLimits, 'consume'>
  authorizations: Pick<ServiceAuthorizations, 'requireForExchange'>
  googleAccountBlocks: Pick<GoogleAccountBlocks, 'hijacked'>
}

/**
 * RFC 8693 token exchange: a registered backend trades a service token minted for it (GraphQL `serviceToken`; never
 * the user's API access token) or, a worker client, a user's id, for the user's Google access token, for a user
 * who authorized that client (ServiceAuthorizations). The token comes from the same path as every Gmail call
 * (GmailAccessTokens: cache, proactive refresh, one flight per user and a row lock across processes), so a
 * burst of exchanges near expiry costs one Google refresh. The refresh token never leaves the vault.
 */
export class TokenExchange {
  readonly #deps: TokenExchangeDeps

  constructor (deps: TokenExchangeDeps) {
    this.#deps = deps
  }

  async exchange (request: TokenRequest): Promise<TokenResponse> {
    let client: ServiceClient | null = null
    try {
      client = await this.#authenticate(request)
      const response = await this.#exchangeFor(client, request)
      this.#deps.metrics.tokenExchange(client.name, 'issued')
      return response
    } catch (err) {
      const translated = translate(err)
      this.#deps.metrics.tokenExchange(client?.name ?? 'unauthenticated', translated.error)
      throw translated
    }
  }

  async #authenticate ({ params, authorization }: TokenRequest): Promise<ServiceClient> {
    const basic = authorization != null ? parseBasic(authorization) : null
    if (authorization != null && basic == null) throw OAuthErrors.invalidClient()
    const postId = params.get('client_id')
    const postSecret = params.get('client_secret')
    // RFC 6749 §2.3: one authentication method per request. A client_id beside Basic is allowed if it is the same.
    if (basic != null && postSecret != null) throw OAuthErrors.clientAuthAmbiguous()
    if (basic != null && postId != null && postId !== basic.id) throw OAuthErrors.invalidClient()
    const id = basic?.id ?? postId
    const secret = basic?.secret ?? postSecret
    if (id == null || secret == null) throw OAuthErrors.invalidClient()
    const client = await this.#deps.clients.authenticate(id, secret)
    if (client == null) throw OAuthErrors.invalidClient()
    return client
  }

  async #exchangeFor (client: ServiceClient, request: TokenRequest): Promise<TokenResponse> {
    const { params } = request
    // Per process, in memory: no database write per exchange (src/rate-limits/rate-limits.ts says why that is safe).
    await this.#deps.rateLimits.consume('tokenExchangePerClient', { client: client.clientId })
    const grantType = required(params, 'grant_type')
    if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) throw OAuthErrors.unsupportedGrantType()
    if (required(params, 'requested_token_type') !== TOKEN_TYPE_GOOGLE_ACCESS_TOKEN) throw OAuthErrors.unsupportedTokenType('requested_token_type')
    const subjectToken = required(params, 'subject_token')
    const subjectType = required(params, 'subject_token_type')
    const requested = params.get('scope')?.split(' ').filter(Boolean)

    let userId: string
    if (subjectType === TOKEN_TYPE_USER_ID) {
      if (!client.worker) throw OAuthErrors.userIdNeedsWorker()
      userId = await this.#activeUser(subjectToken)
    } else if (subjectType === TOKEN_TYPE_ACCESS_TOKEN) {
      userId = await this.#liveSessionUser(subjectToken, client, request)
    } else {
      throw OAuthErrors.unsupportedTokenType('subject_token_type')
    }

    // Consent, read at every exchange: a revoked authorization stops the next one.
    await this.#deps.authorizations.requireForExchange(client, userId)
    // Google said the user's Google account is in someone else's hands (RISC account-disabled, hijacking): no token
    // leaves custody until account-enabled (issue 21 item 6).
    if (await this.#deps.googleAccountBlocks.hijacked(userId)) throw OAuthErrors.googleAccountHijacked()
    const status = await this.#deps.gmail.status(userId)
    if (status.state === 'NOT_CONNECTED') throw OAuthErrors.gmailNotConnected()
    // A Google token cannot be narrowed: `scope` is a check that the grant covers what the backend needs.
    if (requested != null && !requested.every((s) => status.grantedScopes.includes(s))) throw OAuthErrors.invalidScope()
    const { accessToken, expiryDate } = await this.#deps.gmail.getGmailAccessTokenWithExpiry(userId)
    const now = this.#deps.clock.now()
    // Counted per client, user and hour (issue 26 item 2): a backend polling every few seconds writes one row an hour.
    await this.#deps.auditLog.recordCounted('GMAIL_TOKEN_ISSUED', `${client.clientId}:${subjectType}`, {
      userId,
      ip: request.ip,
      userAgent: request.userAgent,
      detail: { clientName: client.name, clientId: client.clientId, subjectTokenType: subjectType }
    })
    return {
      access_token: accessToken,
      issued_token_type: TOKEN_TYPE_GOOGLE_ACCESS_TOKEN,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.floor((expiryDate - now.getTime()) / 1000)),
      scope: status.grantedScopes.join(' ')
    }
  }

  async #activeUser (userId: string): Promise<string> {
    if (!isUuid(userId)) throw OAuthErrors.unknownUser()
    const user = await this.#deps.prisma.user.findUnique({ where: { id: userId }, select: { id: true, disabledAt: true, deletionRequestedAt: true } })
    // A disabled or departing user is nobody a job may act for: the same answer as an unknown id.
    if (user == null || user.disabledAt != null || user.deletionRequestedAt != null) throw OAuthErrors.unknownUser()
    return user.id
  }

  async #liveSessionUser (token: string, client: ServiceClient, request: TokenRequest): Promise<string> {
    let claims: AccessClaims & { apiToken: boolean }
    try {
      claims = await request.verifySubjectToken(token)
    } catch {
      throw OAuthErrors.subjectTokenInvalid()
    }
    // One audience per token: the user's API token is for GraphQL only; a service token only for its own client.
    if (claims.apiToken) throw OAuthErrors.apiTokenAsSubject()
    if (claims.aud !== client.clientId) throw OAuthErrors.subjectTokenOfAnotherClient()
    try {
      return (await requireLiveSession(this.#deps, claims)).user.id
    } catch (err) {
      // Bad signature, expired, logged out, session ended, user disabled or deleted: the grant is not usable.
      if (err instanceof AppError && (err.code === ErrorCodes.UNAUTHENTICATED || err.code === ErrorCodes.FORBIDDEN)) {
        throw OAuthErrors.subjectTokenInvalid()
      }
      throw err
    }
  }
}

function required (params: ReadonlyMap<string, string>, name: string): string {
  const value = params.get(name)
  if (value == null || value === '') throw OAuthErrors.missingParameter(name)
  return value
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. Null when malformed. */
function parseBasic (header: string): { id: string, secret: string } | null {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header.trim())
  if (match == null) return null
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) }
  } catch {
    return null
  }
}

/** Our own errors become OAuth's: Gmail states as invalid_grant + gmail_state, outages as temporarily_unavailable. */
function translate (err: unknown): OAuthError {
  if (err instanceof OAuthError) return err
  if (isError(err, Errors.gmailNotConnected)) return OAuthErrors.gmailNotConnected()
  if (isError(err, Errors.reconnectRequired)) return OAuthErrors.gmailReconnectRequired()
  if (isError(err, Errors.scopeMissing)) return OAuthErrors.gmailScopeMissing()
  if (isError(err, Errors.rateLimited)) return OAuthErrors.rateLimited(Number(err.details.retryAfterSeconds ?? 1))
  const code = err instanceof AppError ? err.code : undefined
  if (code === ErrorCodes.GOOGLE_UNAVAILABLE || code === ErrorCodes.VAULT_UNAVAILABLE || code === ErrorCodes.DATABASE_UNAVAILABLE || isDatabaseUnavailable(err)) {
    return OAuthErrors.unavailable(RETRY_AFTER_SECONDS, err)
  }
  return OAuthErrors.serverError(err)
}
