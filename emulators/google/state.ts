import { createHash, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { selfSignedCertificate } from './certificate.ts'

export const ISSUER = 'https://accounts.google.com'
export const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email'
export const USERINFO_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile'
export const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly'
/** Any of these lets a token read users.getProfile (the list Google puts in its insufficient_scope header). */
export const GMAIL_PROFILE_SCOPES = [
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.modify',
  'https://www.googleapis.com/auth/gmail.compose',
  GMAIL_READONLY,
  'https://www.googleapis.com/auth/gmail.metadata'
]

const SECOND = 1000
const DAY = 86_400 * SECOND
/** Google's access-token lifetime; the `accessTokenTtlSeconds` option shortens it (dev mode). */
export const ACCESS_TOKEN_TTL_SECONDS = 3599
const ID_TOKEN_TTL_SECONDS = 3600
const CODE_TTL = 10 * 60 * SECOND
export const MAX_REFRESH_TOKENS_PER_GRANT = 100
const TESTING_REFRESH_TTL = 7 * DAY
const UNUSED_REFRESH_TTL = 183 * DAY

// A Map, not an object: scopes come from the request, and `constructor` must not find Object's.
const SCOPE_ALIASES: ReadonlyMap<string, string> = new Map([['email', USERINFO_EMAIL], ['profile', USERINFO_PROFILE]])
// Google's granular consent screen never offers these as checkboxes: signing in always grants them.
export const SIGN_IN_SCOPES = new Set(['openid', USERINFO_EMAIL, USERINFO_PROFILE])
const isGmailScope = (scope: string) => scope === 'https://mail.google.com/' || scope.startsWith('https://www.googleapis.com/auth/gmail.')

export const expandScopes = (scope: string | readonly string[] | undefined): string[] => {
  const list = typeof scope === 'string' ? scope.split(/[\s,]+/) : scope ?? []
  return [...new Set(list.filter(Boolean).map(s => SCOPE_ALIASES.get(s) ?? s))]
}

/** The app's own ManualClock (now() → Date) fits too, so a test can drive both with one clock. */
export interface Clock {
  /** Milliseconds since the epoch (or a Date), as the emulator sees it. */
  now (): number | Date
  advance (ms: number): void
}

/** Real time unless `start` is given (then frozen at `start`); `advance` shifts it either way. */
export const createClock = (start?: number): Clock & { now (): number } => {
  let offset = 0
  return {
    now: () => (start ?? Date.now()) + offset,
    advance: ms => { offset += ms }
  }
}

export class OAuthError extends Error {
  readonly status: number
  readonly error: string

  constructor (status: number, error: string, description: string) {
    super(description)
    this.status = status
    this.error = error
  }

  toJSON () {
    return { error: this.error, error_description: this.message }
  }
}

const invalidGrant = (description: string) => new OAuthError(400, 'invalid_grant', description)
const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description)
export const REVOKED = 'Token has been expired or revoked.'

export type ClientType = 'web' | 'ios' | 'android'

export interface EmulatorClient {
  id: string
  /** null for public (iOS, Android) clients. */
  secret: string | null
  type: ClientType
  name: string
  redirectUris: string[]
  /** An app in "Testing" publishing status: its refresh tokens die after 7 days. */
  testing: boolean
}

export type ClientInput = { id: string } & Partial<Omit<EmulatorClient, 'id'>>

export interface EmulatorUser {
  /** The stable identity key; emails can change. */
  sub: string
  email: string
  emailVerified: boolean
  name: string
  givenName: string
  familyName: string
  picture: string
  locale: string
  hd?: string
  messagesTotal: number
  threadsTotal: number
  historyId: string
}

export type UserInput = Partial<EmulatorUser> & ({ email: string } | { sub: string })

interface Grant {
  sub: string
  clientId: string
  scopes: Set<string>
  /** Google hands out a refresh token on the first offline consent only (or with prompt=consent). */
  refreshIssued: boolean
  /** Live refresh tokens, oldest first. */
  refreshTokens: string[]
  createdAt: number
}

interface AuthCode {
  clientId: string
  sub: string
  scopes: string[]
  /** null for a native serverAuthCode: exchanged with no redirect_uri. */
  redirectUri: string | null
  codeChallenge?: string
  nonce?: string
  offline: boolean
  forceRefresh: boolean
  azp: string
  expiresAt: number
  used: boolean
}

export interface AccessToken {
  token: string
  sub: string
  clientId: string
  scopes: string[]
  offline: boolean
  expiresAt: number
}

interface RefreshToken {
  token: string
  sub: string
  clientId: string
  scopes: string[]
  createdAt: number
  lastUsedAt: number
}

interface SigningKey {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  certificate: string
}

export interface TokenResponse {
  access_token: string
  expires_in: number
  refresh_token?: string
  refresh_token_expires_in?: number
  scope: string
  token_type: 'Bearer'
  id_token?: string
}

export interface AuthParams {
  client_id?: string
  redirect_uri?: string
  response_type?: string
  scope?: string
  state?: string
  code_challenge?: string
  code_challenge_method?: string
  access_type?: string
  prompt?: string
  include_granted_scopes?: string
  login_hint?: string
  nonce?: string
}

export interface AuthRequest {
  client: EmulatorClient
  redirectUri: string
  scopes: string[]
  state?: string
  codeChallenge?: string
  nonce?: string
  offline: boolean
  prompt: string[]
  includeGrantedScopes: boolean
  loginHint?: string
}

export type Endpoint = 'auth' | 'token' | 'tokeninfo' | 'revoke' | 'userinfo' | 'gmail' | 'certs'
export type FaultKind = 'http5xx' | 'timeout' | 'invalid_grant'

export interface Fault {
  endpoint: Endpoint | '*'
  kind: FaultKind
  status: number
  /** Remaining applications; null = until cleared. */
  times: number | null
  delayMs: number
}

export type FaultInput = Pick<Fault, 'endpoint' | 'kind'> & Partial<Omit<Fault, 'endpoint' | 'kind'>>

export interface GrantView {
  sub: string
  email?: string
  clientId: string
  scopes: string[]
  refreshTokenIssued: boolean
  refreshTokens: string[]
  accessTokens: number
  createdAt: number
}

export interface NativeSignInInput {
  clientId: string
  user: string
  scopes?: string[]
  serverClientId?: string
  nonce?: string
  prompt?: string
}

export interface NativeSignInResult {
  accessToken: string
  refreshToken: string
  idToken: string
  grantedScopes: string[]
  serverAuthCode?: string
  expiresIn: number
}

export interface Stats {
  requests: Partial<Record<Endpoint, number>>
  grantTypes: Record<string, number>
  faultsInjected: number
}

export interface StateOptions {
  clients?: ClientInput[]
  users?: UserInput[]
  clock?: Clock
  /**
   * Lifetime of new access tokens, in seconds (default 3599, Google's). Dev mode shortens it so that the
   * server, which dates tokens on the wall clock, refreshes one within minutes instead of an hour.
   */
  accessTokenTtlSeconds?: number
}

const token = (prefix: string, bytes: number) => prefix + randomBytes(bytes).toString('base64url')
const sha256 = (value: string) => createHash('sha256').update(value).digest()
const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const grantKey = (sub: string, clientId: string) => `${sub} ${clientId}`

// Google subs are 21-digit numbers; deriving them from the email keeps them stable across dev restarts.
const subFor = (email: string) => `1${BigInt(`0x${sha256(email.toLowerCase()).toString('hex').slice(0, 24)}`).toString().padStart(20, '0').slice(0, 20)}`

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

export class GoogleEmulatorState {
  readonly clock: Clock
  readonly accessTokenTtlSeconds: number
  readonly clients = new Map<string, EmulatorClient>()
  /** By sub. */
  readonly users = new Map<string, EmulatorUser>()
  private readonly grants = new Map<string, Grant>()
  private readonly codes = new Map<string, AuthCode>()
  private readonly accessTokens = new Map<string, AccessToken>()
  private readonly refreshTokens = new Map<string, RefreshToken>()
  /** The last one signs. */
  private readonly keys: SigningKey[] = []
  private faults: Fault[] = []
  private counters: Stats = { requests: {}, grantTypes: {}, faultsInjected: 0 }

  constructor (options: StateOptions = {}) {
    this.clock = options.clock ?? createClock()
    const ttl = options.accessTokenTtlSeconds ?? ACCESS_TOKEN_TTL_SECONDS
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`accessTokenTtlSeconds must be a positive integer, got ${ttl}`)
    this.accessTokenTtlSeconds = ttl
    for (const client of options.clients ?? []) this.upsertClient(client)
    for (const user of options.users ?? []) this.upsertUser(user)
    this.rotateKeys()
  }

  now (): number {
    const now = this.clock.now()
    return typeof now === 'number' ? now : now.getTime()
  }

  advance (ms: number): number {
    this.clock.advance(ms)
    return this.now()
  }

  // ---- clients and users ----

  upsertClient (input: ClientInput): EmulatorClient {
    const prev = this.clients.get(input.id)
    const type = input.type ?? prev?.type ?? 'web'
    const client: EmulatorClient = {
      id: input.id,
      type,
      name: input.name ?? prev?.name ?? input.id,
      secret: input.secret !== undefined ? input.secret : prev ? prev.secret : type === 'web' ? token('GOCSPX-', 21) : null,
      redirectUris: input.redirectUris ?? prev?.redirectUris ?? [],
      testing: input.testing ?? prev?.testing ?? false
    }
    this.clients.set(client.id, client)
    return client
  }

  upsertUser (input: UserInput): EmulatorUser {
    // An explicit sub is the identity: with it, the email may change.
    const prev = input.sub ? this.users.get(input.sub) : input.email ? this.findUser(input.email) : undefined
    const email = input.email ?? prev?.email
    if (!email) throw invalidRequest(`Unknown user ${input.sub}: a new user needs an email`)
    const local = email.split('@')[0] ?? email
    const givenName = input.givenName ?? prev?.givenName ?? capitalize(local)
    const familyName = input.familyName ?? prev?.familyName ?? 'Example'
    const sub = input.sub ?? prev?.sub ?? subFor(email)
    const user: EmulatorUser = {
      sub,
      email,
      emailVerified: input.emailVerified ?? prev?.emailVerified ?? true,
      name: input.name ?? prev?.name ?? `${givenName} ${familyName}`,
      givenName,
      familyName,
      picture: input.picture ?? prev?.picture ?? `https://lh3.googleusercontent.com/a/emulator-${sub}=s96-c`,
      locale: input.locale ?? prev?.locale ?? 'en',
      hd: input.hd ?? prev?.hd,
      messagesTotal: input.messagesTotal ?? prev?.messagesTotal ?? 0,
      threadsTotal: input.threadsTotal ?? prev?.threadsTotal ?? 0,
      historyId: input.historyId ?? prev?.historyId ?? String(100_000 + (parseInt(sub.slice(-5), 10) || 0))
    }
    this.users.set(sub, user)
    return user
  }

  /** By sub, or by email (case-insensitive). */
  findUser (ref: string): EmulatorUser | undefined {
    const lower = ref.toLowerCase()
    return this.users.get(ref) ?? [...this.users.values()].find(u => u.email.toLowerCase() === lower)
  }

  private requireUser (ref: string | undefined): EmulatorUser {
    const user = ref ? this.findUser(ref) : undefined
    if (!user) throw invalidRequest(`Unknown user: ${ref ?? '(none)'}`)
    return user
  }

  // ---- the authorization request ----

  validateAuthRequest (params: AuthParams): AuthRequest {
    if (!params.client_id) throw invalidRequest('Missing required parameter: client_id')
    const client = this.clients.get(params.client_id)
    if (!client) throw new OAuthError(401, 'invalid_client', 'The OAuth client was not found.')
    if (!params.redirect_uri) throw invalidRequest('Missing required parameter: redirect_uri')
    // Google shows an error page here and never redirects to an unregistered URI.
    if (!client.redirectUris.includes(params.redirect_uri)) {
      throw new OAuthError(400, 'redirect_uri_mismatch', `redirect_uri=${params.redirect_uri} is not registered for ${client.id}`)
    }
    if (!params.response_type) throw invalidRequest('Missing required parameter: response_type')
    if (params.response_type !== 'code') throw new OAuthError(400, 'unsupported_response_type', `Unsupported response_type: ${params.response_type}`)
    const scopes = expandScopes(params.scope)
    if (!scopes.length) throw invalidRequest('Missing required parameter: scope')
    const invalid = scopes.filter(s => s !== 'openid' && !s.startsWith('https://www.googleapis.com/auth/') && s !== 'https://mail.google.com/')
    if (invalid.length) throw new OAuthError(400, 'invalid_scope', `Some requested scopes were invalid. {invalid=[${invalid.join(', ')}]}`)
    if (params.code_challenge_method && !params.code_challenge) throw invalidRequest('Missing required parameter: code_challenge')
    if (params.code_challenge) {
      // Google would default to "plain"; the project only allows S256.
      if (params.code_challenge_method !== 'S256') throw invalidRequest(`Invalid code_challenge_method: ${params.code_challenge_method ?? 'plain'}`)
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(params.code_challenge)) throw invalidRequest('Invalid code_challenge')
    }
    const accessType = params.access_type ?? 'online'
    if (accessType !== 'online' && accessType !== 'offline') throw invalidRequest(`Invalid access_type: ${accessType}`)
    const prompt = (params.prompt ?? '').split(/\s+/).filter(Boolean)
    if (prompt.some(p => !['none', 'consent', 'select_account'].includes(p)) || (prompt.includes('none') && prompt.length > 1)) {
      throw invalidRequest(`Invalid prompt: ${params.prompt}`)
    }
    return {
      client,
      redirectUri: params.redirect_uri,
      scopes,
      state: params.state,
      codeChallenge: params.code_challenge,
      nonce: params.nonce,
      offline: accessType === 'offline',
      prompt,
      includeGrantedScopes: params.include_granted_scopes === 'true',
      loginHint: params.login_hint
    }
  }

  private redirect (req: AuthRequest, params: Record<string, string | undefined>): string {
    const url = new URL(req.redirectUri)
    for (const [name, value] of Object.entries({ state: req.state, ...params })) {
      if (value !== undefined) url.searchParams.set(name, value)
    }
    return url.toString()
  }

  deny (req: AuthRequest, error = 'access_denied'): string {
    return this.redirect(req, { error })
  }

  /**
   * The user picked `userRef` and ticked `granted` (default: everything requested). Returns the redirect,
   * with a code unless nothing was granted.
   */
  authorize (req: AuthRequest, userRef: string, granted?: string | readonly string[]): { redirect: string, code?: string, scopes: string[] } {
    const user = this.requireUser(userRef)
    const requested = new Set(req.scopes)
    const ticked = granted === undefined ? req.scopes : expandScopes(granted).filter(s => requested.has(s))
    const scopes = [...new Set([...req.scopes.filter(s => SIGN_IN_SCOPES.has(s)), ...ticked])]
    if (!scopes.length) return { redirect: this.deny(req), scopes }
    const grant = this.grantFor(user.sub, req.client.id)
    for (const s of scopes) grant.scopes.add(s)
    // Without include_granted_scopes the new token covers only this request, though the grant keeps the rest.
    const codeScopes = req.includeGrantedScopes ? [...grant.scopes] : scopes
    const code = this.createCode({
      clientId: req.client.id,
      sub: user.sub,
      scopes: codeScopes,
      redirectUri: req.redirectUri,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      offline: req.offline,
      forceRefresh: req.prompt.includes('consent'),
      azp: req.client.id
    })
    const redirect = this.redirect(req, { code, scope: codeScopes.join(' '), authuser: '0', prompt: req.prompt.includes('none') ? 'none' : 'consent' })
    return { redirect, code, scopes: codeScopes }
  }

  /** prompt=none: answer without UI when the hinted (or only) user already granted everything asked. */
  authorizeSilently (req: AuthRequest): string {
    const candidates = req.loginHint
      ? [this.findUser(req.loginHint)].filter(u => u !== undefined)
      : [...this.grants.values()].filter(g => g.clientId === req.client.id).map(g => this.users.get(g.sub)).filter(u => u !== undefined)
    const user = candidates[0]
    if (!user || candidates.length > 1) return this.deny(req, candidates.length > 1 ? 'account_selection_required' : 'login_required')
    const grant = this.grants.get(grantKey(user.sub, req.client.id))
    if (!grant || req.scopes.some(s => !grant.scopes.has(s))) return this.deny(req, 'consent_required')
    return this.authorize(req, user.sub).redirect
  }

  private createCode (code: Omit<AuthCode, 'expiresAt' | 'used'>): string {
    const now = this.now()
    for (const [value, c] of this.codes) if (c.expiresAt <= now) this.codes.delete(value)
    const value = token('4/0A', 54)
    this.codes.set(value, { ...code, expiresAt: now + CODE_TTL, used: false })
    return value
  }

  // ---- the token endpoint ----

  authenticateClient (clientId: string | undefined, secret: string | undefined): EmulatorClient {
    if (!clientId) throw invalidRequest('Could not determine client ID from request.')
    const client = this.clients.get(clientId)
    if (!client) throw new OAuthError(401, 'invalid_client', 'The OAuth client was not found.')
    if (client.secret !== null && secret !== client.secret) throw new OAuthError(401, 'invalid_client', 'Unauthorized')
    return client
  }

  exchangeCode (client: EmulatorClient, params: { code?: string, redirectUri?: string, codeVerifier?: string }): TokenResponse {
    if (!params.code) throw invalidRequest('Missing required parameter: code')
    const code = this.codes.get(params.code)
    if (!code) throw invalidGrant('Malformed auth code.')
    if (code.used || code.expiresAt <= this.now() || code.clientId !== client.id) throw invalidGrant('Bad Request')
    if (code.redirectUri === null) {
      if (params.redirectUri) throw new OAuthError(400, 'redirect_uri_mismatch', 'Bad Request')
    } else if (!params.redirectUri) {
      throw invalidRequest('Missing required parameter: redirect_uri')
    } else if (params.redirectUri !== code.redirectUri) {
      throw new OAuthError(400, 'redirect_uri_mismatch', 'Bad Request')
    }
    if (code.codeChallenge) {
      if (!params.codeVerifier) throw invalidGrant('Missing code verifier.')
      if (sha256(params.codeVerifier).toString('base64url') !== code.codeChallenge) throw invalidGrant('Invalid code verifier.')
    } else if (params.codeVerifier) {
      throw invalidGrant('code_verifier or verifier is not needed.')
    }
    code.used = true
    const grant = this.grants.get(grantKey(code.sub, client.id))
    const user = this.users.get(code.sub)
    if (!grant || !user) throw invalidGrant('Bad Request')
    return this.issue({
      client,
      user,
      scopes: code.scopes,
      offline: code.offline,
      withRefresh: code.offline && (!grant.refreshIssued || code.forceRefresh),
      nonce: code.nonce,
      azp: code.azp
    })
  }

  refresh (client: EmulatorClient, refreshToken: string | undefined): TokenResponse {
    if (!refreshToken) throw invalidRequest('Missing required parameter: refresh_token')
    const rt = this.liveRefreshToken(refreshToken)
    const user = rt && this.users.get(rt.sub)
    if (!rt || !user) throw invalidGrant(REVOKED)
    if (rt.clientId !== client.id) throw new OAuthError(401, 'unauthorized_client', 'Unauthorized')
    rt.lastUsedAt = this.now()
    return this.issue({ client, user, scopes: rt.scopes, offline: true, withRefresh: false, azp: client.id })
  }

  private issue (o: {
    client: EmulatorClient, user: EmulatorUser, scopes: string[], offline: boolean, withRefresh: boolean, nonce?: string, azp: string
  }): TokenResponse {
    const access = this.mintAccessToken(o.user.sub, o.client.id, o.scopes, o.offline)
    const refresh = o.withRefresh ? this.mintRefreshToken(o.user.sub, o.client.id, o.scopes) : undefined
    return {
      access_token: access.token,
      expires_in: this.accessTokenTtlSeconds,
      ...(refresh ? { refresh_token: refresh.token } : {}),
      ...(refresh && o.client.testing ? { refresh_token_expires_in: TESTING_REFRESH_TTL / SECOND - 1 } : {}),
      scope: o.scopes.join(' '),
      token_type: 'Bearer',
      ...(o.scopes.includes('openid')
        ? { id_token: this.idToken({ user: o.user, aud: o.client.id, azp: o.azp, scopes: o.scopes, nonce: o.nonce, accessToken: access.token }) }
        : {})
    }
  }

  private grantFor (sub: string, clientId: string): Grant {
    const key = grantKey(sub, clientId)
    let grant = this.grants.get(key)
    if (!grant) {
      grant = { sub, clientId, scopes: new Set(), refreshIssued: false, refreshTokens: [], createdAt: this.now() }
      this.grants.set(key, grant)
    }
    return grant
  }

  private mintAccessToken (sub: string, clientId: string, scopes: string[], offline: boolean): AccessToken {
    const now = this.now()
    // Expired tokens are otherwise dropped only when presented: keep a long dev session's memory flat.
    if (this.accessTokens.size >= 10_000) for (const [value, at] of this.accessTokens) if (at.expiresAt <= now) this.accessTokens.delete(value)
    const at: AccessToken = { token: token('ya29.a0', 132), sub, clientId, scopes, offline, expiresAt: now + this.accessTokenTtlSeconds * SECOND }
    this.accessTokens.set(at.token, at)
    return at
  }

  private mintRefreshToken (sub: string, clientId: string, scopes: string[]): RefreshToken {
    const grant = this.grantFor(sub, clientId)
    const now = this.now()
    const rt: RefreshToken = { token: token('1//0', 75), sub, clientId, scopes, createdAt: now, lastUsedAt: now }
    grant.refreshTokens = grant.refreshTokens.filter(t => {
      const live = this.refreshTokens.get(t)
      if (live && !this.expired(live)) return true
      this.refreshTokens.delete(t)
      return false
    })
    // Past 100 live tokens per account and client, Google silently invalidates the oldest.
    while (grant.refreshTokens.length >= MAX_REFRESH_TOKENS_PER_GRANT) {
      const oldest = grant.refreshTokens.shift()
      if (oldest) this.refreshTokens.delete(oldest)
    }
    grant.refreshTokens.push(rt.token)
    grant.refreshIssued = true
    this.refreshTokens.set(rt.token, rt)
    return rt
  }

  private expired (rt: RefreshToken): boolean {
    const now = this.now()
    const client = this.clients.get(rt.clientId)
    return !client || now - rt.lastUsedAt > UNUSED_REFRESH_TTL || (client.testing && now - rt.createdAt > TESTING_REFRESH_TTL)
  }

  private liveRefreshToken (value: string): RefreshToken | undefined {
    const rt = this.refreshTokens.get(value)
    if (!rt || !this.expired(rt)) return rt
    this.dropRefreshTokens(t => t === rt)
    return undefined
  }

  private dropRefreshTokens (match: (rt: RefreshToken) => boolean): number {
    let dropped = 0
    for (const rt of this.refreshTokens.values()) {
      if (!match(rt)) continue
      this.refreshTokens.delete(rt.token)
      const grant = this.grants.get(grantKey(rt.sub, rt.clientId))
      if (grant) grant.refreshTokens = grant.refreshTokens.filter(t => t !== rt.token)
      dropped++
    }
    return dropped
  }

  /** A live (unexpired, unrevoked) access token, for the resource endpoints. */
  lookupAccessToken (value: string | undefined): AccessToken | undefined {
    const at = value ? this.accessTokens.get(value) : undefined
    if (!at) return undefined
    if (at.expiresAt > this.now() && this.users.has(at.sub)) return at
    this.accessTokens.delete(at.token)
    return undefined
  }

  // ---- ID tokens and keys ----

  private idToken (o: { user: EmulatorUser, aud: string, azp: string, scopes: string[], nonce?: string, accessToken?: string }): string {
    const iat = Math.floor(this.now() / SECOND)
    const email = o.scopes.includes(USERINFO_EMAIL)
    const profile = o.scopes.includes(USERINFO_PROFILE)
    const claims = {
      iss: ISSUER,
      azp: o.azp,
      aud: o.aud,
      sub: o.user.sub,
      ...(email && o.user.hd ? { hd: o.user.hd } : {}),
      ...(email ? { email: o.user.email, email_verified: o.user.emailVerified } : {}),
      ...(o.accessToken ? { at_hash: sha256(o.accessToken).subarray(0, 16).toString('base64url') } : {}),
      ...(o.nonce ? { nonce: o.nonce } : {}),
      ...(profile ? { name: o.user.name, picture: o.user.picture, given_name: o.user.givenName, family_name: o.user.familyName } : {}),
      iat,
      exp: iat + ID_TOKEN_TTL_SECONDS
    }
    const key = this.keys.at(-1)
    if (!key) throw new Error('no signing key')
    const signed = `${b64json({ alg: 'RS256', kid: key.kid, typ: 'JWT' })}.${b64json(claims)}`
    return `${signed}.${sign('RSA-SHA256', Buffer.from(signed), key.privateKey).toString('base64url')}`
  }

  /** Adds a key that signs from now on; older keys stay published until removed. Returns its kid. */
  rotateKeys (): string {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const kid = randomBytes(20).toString('hex')
    const now = Date.now()
    const certificate = selfSignedCertificate(privateKey, publicKey, 'federated-signon.system.gserviceaccount.com', new Date(now - DAY), new Date(now + 365 * DAY))
    this.keys.push({ kid, privateKey, publicKey, certificate })
    return kid
  }

  removeKey (kid: string): boolean {
    const index = this.keys.findIndex(k => k.kid === kid)
    if (index < 0) return false
    if (this.keys.length === 1) throw invalidRequest('Cannot remove the only signing key')
    this.keys.splice(index, 1)
    return true
  }

  get kids (): string[] {
    return this.keys.map(k => k.kid)
  }

  pemCertificates (): Record<string, string> {
    return Object.fromEntries(this.keys.map(k => [k.kid, k.certificate]))
  }

  jwks (): { keys: Record<string, string>[] } {
    return {
      keys: this.keys.map(k => {
        const { n = '', e = '' } = k.publicKey.export({ format: 'jwk' })
        return { kty: 'RSA', alg: 'RS256', use: 'sig', kid: k.kid, n, e }
      })
    }
  }

  // ---- tokeninfo, userinfo, revoke ----

  accessTokenInfo (value: string): Record<string, string> {
    const at = this.lookupAccessToken(value)
    const user = at && this.users.get(at.sub)
    if (!at || !user) throw new OAuthError(400, 'invalid_token', 'Invalid Value')
    const email = at.scopes.includes(USERINFO_EMAIL)
    // Google sends numbers and booleans as strings here.
    return {
      azp: at.clientId,
      aud: at.clientId,
      sub: at.sub,
      scope: at.scopes.join(' '),
      exp: String(Math.floor(at.expiresAt / SECOND)),
      expires_in: String(Math.max(0, Math.floor((at.expiresAt - this.now()) / SECOND))),
      ...(email ? { email: user.email, email_verified: String(user.emailVerified) } : {}),
      access_type: at.offline ? 'offline' : 'online'
    }
  }

  idTokenInfo (idToken: string): Record<string, string> {
    const fail = () => new OAuthError(400, 'invalid_token', 'Invalid Value')
    const [header = '', payload = '', signature = ''] = idToken.split('.')
    let envelope: { kid?: string, alg?: string, typ?: string }
    let claims: Record<string, unknown>
    try {
      envelope = JSON.parse(Buffer.from(header, 'base64url').toString())
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    } catch {
      throw fail()
    }
    const key = this.keys.find(k => k.kid === envelope.kid)
    if (!key || !verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key.publicKey, Buffer.from(signature, 'base64url'))) throw fail()
    if (Number(claims.exp) * SECOND <= this.now()) throw fail()
    return Object.fromEntries([...Object.entries(claims), ['alg', envelope.alg], ['kid', envelope.kid], ['typ', envelope.typ]].map(([k, v]) => [k, String(v)]))
  }

  /** OpenID userinfo; v2 renames sub→id and email_verified→verified_email. Fields follow the granted scopes. */
  userinfo (at: AccessToken, version: 'v2' | 'v3'): Record<string, unknown> {
    const user = this.users.get(at.sub)
    if (!user) return {}
    const email = at.scopes.includes(USERINFO_EMAIL)
    const profile = at.scopes.includes(USERINFO_PROFILE)
    return {
      [version === 'v3' ? 'sub' : 'id']: user.sub,
      ...(profile ? { name: user.name, given_name: user.givenName, family_name: user.familyName, picture: user.picture } : {}),
      ...(email ? { email: user.email, [version === 'v3' ? 'email_verified' : 'verified_email']: user.emailVerified } : {}),
      ...(profile ? { locale: user.locale } : {}),
      ...(email && user.hd ? { hd: user.hd } : {})
    }
  }

  /** Revoking any access or refresh token ends the whole grant, like Google. False when the token is unknown. */
  revokeToken (value: string): boolean {
    const found = this.lookupAccessToken(value) ?? this.liveRefreshToken(value)
    if (!found) return false
    this.revokeGrant(found.sub, found.clientId)
    return true
  }

  revokeGrant (sub: string, clientId: string): boolean {
    const existed = this.grants.delete(grantKey(sub, clientId))
    const ours = (t: { sub: string, clientId: string }) => t.sub === sub && t.clientId === clientId
    this.dropRefreshTokens(ours)
    for (const at of this.accessTokens.values()) if (ours(at)) this.accessTokens.delete(at.token)
    for (const [value, code] of this.codes) if (ours(code)) this.codes.delete(value)
    return existed
  }

  /** What the user does in their Google Account "third-party access" page: all clients unless one is named. */
  revokeUserAccess (userRef: string, clientId?: string): number {
    const user = this.requireUser(userRef)
    const clients = [...this.grants.values()].filter(g => g.sub === user.sub && (!clientId || g.clientId === clientId)).map(g => g.clientId)
    for (const id of clients) this.revokeGrant(user.sub, id)
    return clients.length
  }

  /** A password change kills refresh tokens that carry Gmail scopes; access tokens live on until they expire. */
  passwordChange (userRef: string): number {
    const user = this.requireUser(userRef)
    return this.dropRefreshTokens(rt => rt.sub === user.sub && rt.scopes.some(isGmailScope))
  }

  grantsOf (filter: { user?: string, clientId?: string } = {}): GrantView[] {
    const user = filter.user ? this.requireUser(filter.user) : undefined
    const now = this.now()
    return [...this.grants.values()]
      .filter(g => (!user || g.sub === user.sub) && (!filter.clientId || g.clientId === filter.clientId))
      .map(g => ({
        sub: g.sub,
        email: this.users.get(g.sub)?.email,
        clientId: g.clientId,
        scopes: [...g.scopes],
        refreshTokenIssued: g.refreshIssued,
        refreshTokens: g.refreshTokens.filter(t => this.liveRefreshToken(t)),
        accessTokens: [...this.accessTokens.values()].filter(a => a.sub === g.sub && a.clientId === g.clientId && a.expiresAt > now).length,
        createdAt: g.createdAt
      }))
  }

  // ---- native (iOS/Android) Google Sign-In SDK ----

  /**
   * What GIDSignIn hands the app. With a server client id the ID token is minted for the server (aud = server
   * client, azp = the app) and a serverAuthCode comes along for the server to exchange with no redirect_uri.
   */
  nativeSignIn (input: NativeSignInInput): NativeSignInResult {
    const client = this.clients.get(input.clientId)
    if (!client) throw new OAuthError(401, 'invalid_client', 'The OAuth client was not found.')
    if (client.type === 'web') throw invalidRequest(`${client.id} is a web client; native sign-in needs an iOS or Android client`)
    const server = input.serverClientId ? this.clients.get(input.serverClientId) : undefined
    if (input.serverClientId && server?.type !== 'web') throw invalidRequest(`Unknown web client for server_client_id: ${input.serverClientId}`)
    const user = this.requireUser(input.user)
    // The SDK always asks for the basic profile, and grantedScopes accumulates across addScopes calls.
    const grant = this.grantFor(user.sub, client.id)
    for (const s of expandScopes(['openid', 'email', 'profile', ...(input.scopes ?? [])])) grant.scopes.add(s)
    const scopes = [...grant.scopes]
    const access = this.mintAccessToken(user.sub, client.id, scopes, true)
    const refresh = this.mintRefreshToken(user.sub, client.id, scopes)
    let serverAuthCode: string | undefined
    if (server) {
      const serverGrant = this.grantFor(user.sub, server.id)
      for (const s of scopes) serverGrant.scopes.add(s)
      serverAuthCode = this.createCode({
        clientId: server.id, sub: user.sub, scopes, redirectUri: null, offline: true, forceRefresh: input.prompt === 'consent', azp: client.id
      })
    }
    return {
      accessToken: access.token,
      refreshToken: refresh.token,
      idToken: this.idToken({ user, aud: server?.id ?? client.id, azp: client.id, scopes, nonce: input.nonce, accessToken: access.token }),
      grantedScopes: scopes,
      ...(serverAuthCode ? { serverAuthCode } : {}),
      expiresIn: this.accessTokenTtlSeconds
    }
  }

  // ---- faults and stats ----

  addFault (input: FaultInput): Fault {
    const fault: Fault = {
      endpoint: input.endpoint,
      kind: input.kind,
      status: input.status ?? 503,
      times: input.times ?? null,
      delayMs: input.delayMs ?? 30_000
    }
    this.faults.push(fault)
    return fault
  }

  clearFaults (endpoint?: Endpoint | '*'): void {
    this.faults = endpoint ? this.faults.filter(f => f.endpoint !== endpoint) : []
  }

  listFaults (): Fault[] {
    return this.faults.map(f => ({ ...f }))
  }

  /** The fault to apply to this request, if any; counts it down. invalid_grant only hits refresh_token grants. */
  takeFault (endpoint: Endpoint, grantType?: string): Fault | undefined {
    const index = this.faults.findIndex(f =>
      (f.endpoint === '*' || f.endpoint === endpoint) && (f.kind !== 'invalid_grant' || (endpoint === 'token' && grantType === 'refresh_token')))
    const fault = this.faults[index]
    if (!fault) return undefined
    if (fault.times !== null && --fault.times <= 0) this.faults.splice(index, 1)
    this.counters.faultsInjected++
    return { ...fault }
  }

  recordRequest (endpoint: Endpoint, grantType?: string): void {
    this.counters.requests[endpoint] = (this.counters.requests[endpoint] ?? 0) + 1
    if (grantType) this.counters.grantTypes[grantType] = (this.counters.grantTypes[grantType] ?? 0) + 1
  }

  stats (): Stats {
    return structuredClone(this.counters)
  }

  resetStats (): void {
    this.counters = { requests: {}, grantTypes: {}, faultsInjected: 0 }
  }

  /** Forget grants, codes, tokens, faults and stats; clients, users, keys and the clock stay. */
  reset (): void {
    this.grants.clear()
    this.codes.clear()
    this.accessTokens.clear()
    this.refreshTokens.clear()
    this.clearFaults()
    this.resetStats()
  }
}
