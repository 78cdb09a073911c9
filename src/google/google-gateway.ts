import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { CodeChallengeMethod, OAuth2Client } from 'google-auth-library'
import { jwtVerify } from 'jose'
import type { JWTPayload } from 'jose'
import { AppError, Errors, isError } from '../errors.ts'
import { KeysUnavailableError, RemoteKeySet } from '../jwks/remote-key-set.ts'

/**
 * The one module that talks to Google (google-auth-library and googleapis). Everything else sees plain
 * shapes and three kinds of failure: the grant is dead (`GoogleInvalidGrantError`: delete and ask to
 * reconnect), Google refused the request for another reason (`GoogleRejectedError`), or Google could not
 * be reached / answered 5xx / timed out (AppError GOOGLE_UNAVAILABLE: retry later, delete nothing).
 */

export const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly'
/** Scopes that include read access to Gmail (granular consent may grant a broader one). */
const GMAIL_READ_SCOPES = new Set([GMAIL_READONLY, 'https://www.googleapis.com/auth/gmail.modify', 'https://mail.google.com/'])

export function grantsGmailRead (scopes: readonly string[]): boolean {
  return scopes.some((s) => GMAIL_READ_SCOPES.has(s))
}

export interface GoogleConfig {
  clientId: string
  clientSecret: string
  /** Public clients (iOS/Android) whose tokens we accept; refreshed with their own id and no secret. */
  iosClientIds: string[]
  /** One origin serving every Google endpoint at Google's paths (the emulator); unset for real Google. */
  baseUrl?: string
  timeoutMs: number
  /** How far in the future an ID token's `iat` may be (our clock and Google's disagree a little). */
  clockSkewSeconds?: number
}

/** The calls to Google that are counted (the `operation` label of inboxgate_google_calls_total). */
export type GoogleOperation = 'token_exchange' | 'token_refresh' | 'tokeninfo' | 'id_token_verify' | 'revoke' | 'gmail_profile'
export type GoogleCallOutcome = 'ok' | 'invalid_grant' | 'rejected' | 'unavailable' | 'error'
/** Told of every counted call's outcome (the metrics plugin's counter, injected: nothing rewrites our methods). */
export type GoogleCallObserver = (operation: GoogleOperation, outcome: GoogleCallOutcome) => void

export interface GoogleTokens {
  accessToken: string
  refreshToken: string | null
  /** Seconds the access token lives from now (the caller dates it with its own clock). */
  expiresIn: number
  scope: string[]
  idToken: string | null
}

export interface GoogleTokenInfo {
  aud: string
  azp: string
  sub: string
  email: string | null
  emailVerified: boolean
  scope: string[]
  expiryDate: number
}

export interface GoogleIdentity {
  sub: string
  email: string | null
  emailVerified: boolean
  name: string | null
  audience: string
}

export class GoogleInvalidGrantError extends Error {
  override name = 'GoogleInvalidGrantError'
}

export class GoogleRejectedError extends Error {
  override name = 'GoogleRejectedError'
  // eslint-disable-next-line n/handle-callback-err -- `error` is Google's OAuth error code kept as a field, not a callback's error
  constructor (readonly error: string, message: string, readonly status: number) {
    super(message)
  }
}

// Only the Gmail API, and at its first call: `import 'googleapis'` loads every Google API (≈1 s CPU and ≈100 MiB
// RSS at start on this machine kind, bench/startup.ts); the Gmail one alone still costs ≈70 ms that a start need
// not pay. The deep path keeps googleapis's own google-auth-library, the one we import (`npm ls
// google-auth-library`: a single version).
// It is a CommonJS module: Node's own import() gives it named exports, but in the esbuild bundle (npm run build) the
// chunk has only `default`, the module's exports object. Read either way: reading `.gmail` alone was undefined in the
// built server, and every Gmail call there failed as GOOGLE_UNAVAILABLE (test/build.test.ts now calls one).
type GmailModule = typeof import('googleapis/build/src/apis/gmail/index.js')
let gmailModule: Promise<GmailModule['gmail']> | undefined
async function loadGmailApi () {
  gmailModule ??= import('googleapis/build/src/apis/gmail/index.js').then((m: Partial<GmailModule> & { default?: GmailModule }) => {
    const gmail = m.gmail ?? m.default?.gmail
    if (gmail == null) throw new Error('googleapis: the Gmail API module has no gmail export')
    return gmail
  })
  return await gmailModule
}

interface GaxiosLikeError { response?: { status?: number, data?: unknown }, code?: string, message?: string }

/** Translates a google-auth-library/gaxios failure. Never copies request data (it holds tokens) into the error. */
export function translateGoogleError (err: unknown, what: string): Error {
  if (err instanceof GoogleInvalidGrantError || err instanceof GoogleRejectedError || err instanceof AppError) return err
  const e = err as GaxiosLikeError
  const status = e.response?.status
  const data = (e.response?.data ?? {}) as { error?: unknown, error_description?: unknown }
  const error = typeof data.error === 'string' ? data.error : typeof (data.error as { status?: unknown })?.status === 'string' ? String((data.error as { status: string }).status) : undefined
  if (status === 400 && error === 'invalid_grant') {
    return new GoogleInvalidGrantError(`${what}: Google says the grant is expired or revoked`)
  }
  if (status != null && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    const description = typeof data.error_description === 'string' ? data.error_description : ''
    return new GoogleRejectedError(error ?? `http_${status}`, `${what}: Google refused (${status} ${error ?? ''} ${description})`.trim(), status)
  }
  return Errors.googleUnavailable({}, {
    cause: new Error(`${what}: ${status != null ? `HTTP ${status}` : (e.code ?? 'network error')}`)
  })
}

const ISSUERS = ['https://accounts.google.com', 'accounts.google.com']
/** Google's ID tokens live an hour; google-auth-library refused any whose `exp` lay more than a day after `iat`. */
const MAX_ID_TOKEN_LIFETIME_S = 86_400
/** What google-auth-library allowed on `exp` and `nbf`; a future `iat` is bounded by our own clock skew below. */
const EXP_SKEW_S = 300
/**
 * A token signed with a key we do not hold makes us refetch Google's keys (Google publishes a new key before
 * signing with it, but our copy may predate it), at most once per this interval: otherwise junk tokens with
 * made-up `kid`s would each cost a request to Google.
 */
const UNKNOWN_KID_REFETCH_INTERVAL_MS = 60_000

/** google-auth-library's endpoints when one origin serves Google's paths (GOOGLE_API_BASE_URL, the emulator). */
export function googleEndpointsAt (base: string) {
  return {
    oauth2AuthBaseUrl: `${base}/o/oauth2/v2/auth`,
    oauth2TokenUrl: `${base}/token`,
    tokenInfoUrl: `${base}/tokeninfo`,
    oauth2RevokeUrl: `${base}/revoke`,
    oauth2FederatedSignonPemCertsUrl: `${base}/oauth2/v1/certs`,
    oauth2FederatedSignonJwkCertsUrl: `${base}/oauth2/v3/certs`
  }
}

function callOutcome (err: unknown): GoogleCallOutcome {
  if (err instanceof GoogleInvalidGrantError) return 'invalid_grant'
  if (err instanceof GoogleRejectedError) return 'rejected'
  if (isError(err, Errors.googleUnavailable)) return 'unavailable'
  return 'error'
}

// google-auth-library turns Google's `expires_in` into an absolute `expiry_date` on the wall clock; turn it back.
function expiresIn (expiryDate: number | null | undefined): number {
  return expiryDate == null ? 3599 : Math.max(0, Math.round((expiryDate - Date.now()) / 1000))
}

export class GoogleGateway {
  readonly config: GoogleConfig
  readonly #endpoints: Record<string, string> | undefined
  readonly #rootUrl: string | undefined
  /** Google's ID-token (and Pub/Sub push token) signing keys: fetched once, shared by every check. */
  readonly #keys: RemoteKeySet
  readonly #observe: GoogleCallObserver | undefined

  constructor (config: GoogleConfig, observe?: GoogleCallObserver) {
    this.config = config
    this.#observe = observe
    const base = config.baseUrl?.replace(/\/+$/, '')
    this.#rootUrl = base != null ? `${base}/` : undefined
    this.#endpoints = base != null ? googleEndpointsAt(base) : undefined
    this.#keys = new RemoteKeySet({
      url: new URL('/oauth2/v3/certs', base ?? 'https://www.googleapis.com'),
      timeoutMs: config.timeoutMs,
      unknownKidCooldownMs: UNKNOWN_KID_REFETCH_INTERVAL_MS
    })
  }

  async #counted<T> (operation: GoogleOperation, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call()
      this.#observe?.(operation, 'ok')
      return result
    } catch (err) {
      this.#observe?.(operation, callOutcome(err))
      throw err
    }
  }

  /** Every client id whose tokens we accept: the web (server) client and the public iOS clients. */
  get acceptedClientIds (): string[] {
    return [this.config.clientId, ...this.config.iosClientIds]
  }

  /** An OAuth client for `clientId`: the web client with its secret, a public client without one. */
  client (clientId = this.config.clientId, redirectUri?: string): OAuth2Client {
    if (!this.acceptedClientIds.includes(clientId)) throw new Error(`unknown Google client id ${clientId}`)
    return new OAuth2Client({
      clientId,
      clientSecret: clientId === this.config.clientId ? this.config.clientSecret : undefined,
      redirectUri,
      endpoints: this.#endpoints,
      issuers: ISSUERS,
      transporterOptions: { timeout: this.config.timeoutMs }
    })
  }

  /**
   * Google's consent page for the web redirect flow: `openid email profile`, plus gmail.readonly with offline
   * access when asked (incremental: scopes granted before stay granted; `prompt=consent` so Google hands out the
   * refresh token we take custody of). PKCE S256 only; the caller keeps `state`, the verifier and the nonce.
   */
  /**
   * `connectOnly`: a signed-in user connecting Gmail, not signing in: no `profile`; `email` still, so that tokeninfo
   * names the mailbox connected.
   */
  authorizationUrl (opts: { redirectUri: string, state: string, codeChallenge: string, nonce: string, gmail: boolean, connectOnly?: boolean }): string {
    return this.client(this.config.clientId, opts.redirectUri).generateAuthUrl({
      scope: ['openid', 'email', ...(opts.connectOnly === true ? [] : ['profile']), ...(opts.gmail ? [GMAIL_READONLY] : [])],
      state: opts.state,
      code_challenge: opts.codeChallenge,
      code_challenge_method: CodeChallengeMethod.S256,
      nonce: opts.nonce,
      ...(opts.gmail ? { access_type: 'offline', include_granted_scopes: true, prompt: 'consent' } : {})
    })
  }

  /** A fresh PKCE pair (RFC 7636): 43+ characters of verifier, its S256 challenge. */
  async pkce (): Promise<{ codeVerifier: string, codeChallenge: string }> {
    const { codeVerifier, codeChallenge } = await this.client().generateCodeVerifierAsync()
    return { codeVerifier, codeChallenge: codeChallenge! }
  }

  /** Exchanges an authorization code with the web client (a server auth code from iOS has no redirect_uri). */
  async exchangeCode (code: string, opts: { redirectUri?: string, codeVerifier?: string } = {}): Promise<GoogleTokens> {
    return await this.#counted('token_exchange', async () => await this.#exchangeCode(code, opts))
  }

  async #exchangeCode (code: string, opts: { redirectUri?: string, codeVerifier?: string } = {}): Promise<GoogleTokens> {
    try {
      const { tokens } = await this.client(this.config.clientId, opts.redirectUri ?? '').getToken({
        code, codeVerifier: opts.codeVerifier, redirect_uri: opts.redirectUri ?? ''
      })
      if (tokens.access_token == null) throw new GoogleRejectedError('no_access_token', 'code exchange: no access token', 200)
      return {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token ?? null,
        expiresIn: expiresIn(tokens.expiry_date),
        scope: (tokens.scope ?? '').split(' ').filter(Boolean),
        idToken: tokens.id_token ?? null
      }
    } catch (err) {
      throw translateGoogleError(err, 'code exchange')
    }
  }

  /** Refreshes with the client that minted the refresh token. The response normally has no refresh_token. */
  async refresh (refreshToken: string, clientId: string): Promise<GoogleTokens> {
    return await this.#counted('token_refresh', async () => await this.#refresh(refreshToken, clientId))
  }

  async #refresh (refreshToken: string, clientId: string): Promise<GoogleTokens> {
    try {
      const client = this.client(clientId)
      client.setCredentials({ refresh_token: refreshToken })
      const { credentials } = await client.refreshAccessToken()
      if (credentials.access_token == null) throw new GoogleRejectedError('no_access_token', 'refresh: no access token', 200)
      return {
        accessToken: credentials.access_token,
        // google-auth-library copies the request's refresh token into the result when Google sends none:
        // report only a genuinely new one.
        refreshToken: credentials.refresh_token != null && credentials.refresh_token !== refreshToken ? credentials.refresh_token : null,
        expiresIn: expiresIn(credentials.expiry_date),
        scope: (credentials.scope ?? '').split(' ').filter(Boolean),
        idToken: credentials.id_token ?? null
      }
    } catch (err) {
      throw translateGoogleError(err, 'refresh')
    }
  }

  async tokenInfo (accessToken: string): Promise<GoogleTokenInfo> {
    return await this.#counted('tokeninfo', async () => await this.#tokenInfo(accessToken))
  }

  async #tokenInfo (accessToken: string): Promise<GoogleTokenInfo> {
    try {
      const info = await this.client().getTokenInfo(accessToken)
      const raw = info as unknown as { azp?: string, aud: string, sub?: string, email?: string, email_verified?: boolean | string, scopes: string[], expiry_date: number }
      if (raw.sub == null) throw new GoogleRejectedError('no_sub', 'tokeninfo: no subject', 200)
      return {
        aud: raw.aud,
        azp: raw.azp ?? raw.aud,
        sub: raw.sub,
        email: raw.email ?? null,
        emailVerified: raw.email_verified === true || raw.email_verified === 'true',
        scope: raw.scopes,
        expiryDate: raw.expiry_date
      }
    } catch (err) {
      // tokeninfo answers 400 invalid_token for an expired or revoked access token.
      throw translateGoogleError(err, 'tokeninfo')
    }
  }

  /**
   * A Google-signed JWT: RS256 with Google's published keys, `iss` Google, `aud` one of `audience`, `iat` and `exp`
   * present (the checks google-auth-library made, on the wall clock as it did). Throws GOOGLE_UNAVAILABLE when the
   * keys cannot be fetched, GoogleRejectedError(`rejection`) for anything wrong with the token.
   */
  async #verifyGoogleJwt (token: string, audience: string[], rejection: { error: string, status: number, what: string }): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.#keys.getKey, {
        algorithms: ['RS256'], issuer: ISSUERS, audience, requiredClaims: ['iat', 'exp'], clockTolerance: EXP_SKEW_S
      })
      if (payload.exp! - payload.iat! > MAX_ID_TOKEN_LIFETIME_S) throw new Error('lifetime')
      return payload
    } catch (err) {
      // The keys could not be fetched: Google is down. Anything else (signature, audience, issuer, expiry): the token is bad.
      if (err instanceof KeysUnavailableError) throw Errors.googleUnavailable({}, { cause: new Error(`${rejection.what} keys: ${err.message}`) })
      throw new GoogleRejectedError(rejection.error, `The ${rejection.what} is invalid`, rejection.status)
    }
  }

  async verifyIdToken (idToken: string, audience: string[] = this.acceptedClientIds, nonce?: string): Promise<GoogleIdentity> {
    return await this.#counted('id_token_verify', async () => await this.#verifyIdToken(idToken, audience, nonce))
  }

  async #verifyIdToken (idToken: string, audience: string[] = this.acceptedClientIds, nonce?: string): Promise<GoogleIdentity> {
    const payload = await this.#verifyGoogleJwt(idToken, audience, { error: 'invalid_id_token', status: 400, what: 'Google ID token' })
    if (typeof payload.sub !== 'string') throw new GoogleRejectedError('invalid_id_token', 'The Google ID token has no subject', 400)
    if (nonce != null && payload.nonce !== nonce) throw new GoogleRejectedError('invalid_id_token', 'The Google ID token nonce does not match', 400)
    // `azp` is the client the token was issued to when it differs from `aud` (an iOS app with GIDServerClientID):
    // the library checks only `aud`, so a token another app obtained for our audience would pass.
    if (payload.azp != null && (typeof payload.azp !== 'string' || !this.acceptedClientIds.includes(payload.azp))) {
      throw new GoogleRejectedError('invalid_id_token', 'The Google ID token was issued to another client (azp)', 400)
    }
    // At most our own clock skew ahead (and never more than the 300 s google-auth-library allowed), on the wall clock.
    if (payload.iat! > Date.now() / 1000 + Math.min(this.config.clockSkewSeconds ?? EXP_SKEW_S, EXP_SKEW_S)) {
      throw new GoogleRejectedError('invalid_id_token', 'The Google ID token was issued in the future (iat)', 400)
    }
    return {
      sub: payload.sub,
      email: typeof payload.email === 'string' ? payload.email : null,
      emailVerified: payload.email_verified === true,
      name: typeof payload.name === 'string' ? payload.name : null,
      audience: String(payload.aud)
    }
  }

  /** Revokes the whole grant (Google revokes access and refresh tokens of the user+client together). */
  async revoke (token: string): Promise<void> {
    return await this.#counted('revoke', async () => await this.#revoke(token))
  }

  async #revoke (token: string): Promise<void> {
    try {
      await this.client().revokeToken(token)
    } catch (err) {
      const translated = translateGoogleError(err, 'revoke')
      // Already revoked or expired: the goal is reached.
      if (translated instanceof GoogleRejectedError && translated.error === 'invalid_token') return
      throw translated
    }
  }

  /**
   * A Pub/Sub push's OIDC token (Google-signed, the same keys as ID tokens): signature, issuer, expiry and `aud`
   * checked by google-auth-library as Google documents; the caller compares `email`. Throws GoogleRejectedError for
   * a bad token, GOOGLE_UNAVAILABLE when the keys cannot be fetched.
   */
  async verifyPushToken (token: string, audience: string): Promise<{ email: string | null, emailVerified: boolean }> {
    const payload = await this.#verifyGoogleJwt(token, [audience], { error: 'invalid_push_token', status: 401, what: 'Pub/Sub push token' })
    return { email: typeof payload.email === 'string' ? payload.email : null, emailVerified: payload.email_verified === true }
  }

  /** Readiness: Google's keys can be fetched now (the cache is refreshed as a side effect). */
  async checkReachable (): Promise<void> {
    await this.#keys.reload()
  }

  async #gmail () {
    return (await loadGmailApi())({ version: 'v1', rootUrl: this.#rootUrl, timeout: this.config.timeoutMs })
  }

  /** users.watch on INBOX into `topicName`: the mailbox's historyId now and the watch's expiry (ms). */
  async gmailWatch (accessToken: string, topicName: string): Promise<{ historyId: string, expiration: number }> {
    try {
      const { data } = await (await this.#gmail()).users.watch({ userId: 'me', requestBody: { topicName, labelIds: ['INBOX'], labelFilterBehavior: 'INCLUDE' } }, { headers: { authorization: `Bearer ${accessToken}` } })
      return { historyId: data.historyId ?? '', expiration: Number(data.expiration ?? 0) }
    } catch (err) {
      throw translateGoogleError(err, 'gmail watch')
    }
  }

  async gmailStop (accessToken: string): Promise<void> {
    try {
      await (await this.#gmail()).users.stop({ userId: 'me' }, { headers: { authorization: `Bearer ${accessToken}` } })
    } catch (err) {
      throw translateGoogleError(err, 'gmail stop')
    }
  }

  /**
   * Messages added to INBOX after `startHistoryId` (all pages, oldest first) and the mailbox's historyId; null when
   * Gmail no longer keeps history that old (its 404): the caller must resynchronise.
   */
  async gmailHistory (accessToken: string, startHistoryId: string): Promise<{ messages: Array<{ id: string, threadId: string, historyId: string }>, historyId: string } | null> {
    const gmail = await this.#gmail()
    const messages: Array<{ id: string, threadId: string, historyId: string }> = []
    let pageToken: string | undefined
    let historyId = startHistoryId
    try {
      do {
        const { data } = await gmail.users.history.list({ userId: 'me', startHistoryId, historyTypes: ['messageAdded'], labelId: 'INBOX', maxResults: 500, pageToken }, { headers: { authorization: `Bearer ${accessToken}` } })
        for (const h of data.history ?? []) {
          for (const added of h.messagesAdded ?? []) {
            if (added.message?.id != null) messages.push({ id: added.message.id, threadId: added.message.threadId ?? added.message.id, historyId: h.id ?? historyId })
          }
        }
        historyId = data.historyId ?? historyId
        pageToken = data.nextPageToken ?? undefined
      } while (pageToken != null)
    } catch (err) {
      if ((err as GaxiosLikeError).response?.status === 404) return null
      throw translateGoogleError(err, 'gmail history')
    }
    return { messages, historyId }
  }

  async gmailProfile (accessToken: string): Promise<{ emailAddress: string, messagesTotal: number, threadsTotal: number, historyId: string }> {
    return await this.#counted('gmail_profile', async () => await this.#gmailProfile(accessToken))
  }

  async #gmailProfile (accessToken: string): Promise<{ emailAddress: string, messagesTotal: number, threadsTotal: number, historyId: string }> {
    // The token goes in the header ourselves, with no auth client: google-auth-library would otherwise try
    // to refresh a token it thinks is near expiry; our custody layer is the only place that refreshes.
    try {
      const gmail = (await loadGmailApi())({ version: 'v1', rootUrl: this.#rootUrl, timeout: this.config.timeoutMs })
      const { data } = await gmail.users.getProfile({ userId: 'me' }, { headers: { authorization: `Bearer ${accessToken}` } })
      return {
        emailAddress: data.emailAddress ?? '',
        messagesTotal: data.messagesTotal ?? 0,
        threadsTotal: data.threadsTotal ?? 0,
        historyId: data.historyId ?? ''
      }
    } catch (err) {
      throw translateGoogleError(err, 'gmail profile')
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Decorated only when Google is configured (GOOGLE_CLIENT_ID set): the plugins that exist only for Google (RISC,
     * Gmail push) are then not registered at all (src/app.ts), so their code never meets a missing gateway. Code that
     * also runs without Google (Gmail status, sign-in, readiness) reads it through `configuredGoogle`.
     */
    googleGateway: GoogleGateway
  }
}

/** The gateway, or null when Google is not configured: Gmail features then answer GOOGLE_NOT_CONFIGURED. */
export function configuredGoogle (app: FastifyInstance): GoogleGateway | null {
  return app.hasDecorator('googleGateway') ? app.googleGateway : null
}

export default fp(async (app) => {
  const c = app.config
  if (c.GOOGLE_CLIENT_ID == null) return
  app.decorate('googleGateway', new GoogleGateway({
    clientId: c.GOOGLE_CLIENT_ID,
    clientSecret: c.GOOGLE_CLIENT_SECRET ?? '',
    iosClientIds: c.GOOGLE_IOS_CLIENT_IDS,
    baseUrl: c.GOOGLE_API_BASE_URL,
    timeoutMs: c.GOOGLE_TIMEOUT_MS,
    clockSkewSeconds: c.JWT_CLOCK_SKEW_SECONDS
  }, (operation, outcome) => { app.metrics.googleCall(operation, outcome) }))
}, { name: 'google', dependencies: ['config', 'metrics'] })
