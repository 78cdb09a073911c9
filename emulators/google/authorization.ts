import type { Directory, EmulatorClient } from './directory.ts'
import type { SigningKeys } from './keys.ts'
import { expandScopes, invalidGrant, invalidRequest, OAuthError, randomToken, SECOND, sha256, SIGN_IN_SCOPES } from './oauth.ts'
import type { TokenResponse, TokenStore } from './tokens.ts'

// The authorization request and its codes: the consent page's decisions, prompt=none, the code exchange,
// and the native SDK's sign-in (whose serverAuthCode is a code too).

const CODE_TTL = 10 * 60 * SECOND

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

export interface AuthorizationsOptions {
  directory: Directory
  tokens: TokenStore
  keys: SigningKeys
  now: () => number
  accessTokenTtlSeconds: number
}

export class Authorizations {
  private readonly codes = new Map<string, AuthCode>()
  private readonly directory: Directory
  private readonly tokens: TokenStore
  private readonly keys: SigningKeys
  private readonly now: () => number
  private readonly accessTokenTtlSeconds: number

  constructor (options: AuthorizationsOptions) {
    this.directory = options.directory
    this.tokens = options.tokens
    this.keys = options.keys
    this.now = options.now
    this.accessTokenTtlSeconds = options.accessTokenTtlSeconds
  }

  validateAuthRequest (params: AuthParams): AuthRequest {
    if (!params.client_id) throw invalidRequest('Missing required parameter: client_id')
    const client = this.directory.requireClient(params.client_id)
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
    const user = this.directory.requireUser(userRef)
    const requested = new Set(req.scopes)
    const ticked = granted === undefined ? req.scopes : expandScopes(granted).filter(s => requested.has(s))
    const scopes = [...new Set([...req.scopes.filter(s => SIGN_IN_SCOPES.has(s)), ...ticked])]
    if (!scopes.length) return { redirect: this.deny(req), scopes }
    const grant = this.tokens.grantFor(user.sub, req.client.id)
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
      ? [this.directory.findUser(req.loginHint)].filter(u => u !== undefined)
      : this.tokens.grantsOfClient(req.client.id).map(g => this.directory.users.get(g.sub)).filter(u => u !== undefined)
    const user = candidates[0]
    if (!user || candidates.length > 1) return this.deny(req, candidates.length > 1 ? 'account_selection_required' : 'login_required')
    const grant = this.tokens.grant(user.sub, req.client.id)
    if (!grant || req.scopes.some(s => !grant.scopes.has(s))) return this.deny(req, 'consent_required')
    return this.authorize(req, user.sub).redirect
  }

  private createCode (code: Omit<AuthCode, 'expiresAt' | 'used'>): string {
    const now = this.now()
    for (const [value, c] of this.codes) if (c.expiresAt <= now) this.codes.delete(value)
    const value = randomToken('4/0A', 54)
    this.codes.set(value, { ...code, expiresAt: now + CODE_TTL, used: false })
    return value
  }

  /** The token endpoint's authorization_code grant. */
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
    const grant = this.tokens.grant(code.sub, client.id)
    const user = this.directory.users.get(code.sub)
    if (!grant || !user) throw invalidGrant('Bad Request')
    return this.tokens.issue({
      client,
      user,
      scopes: code.scopes,
      offline: code.offline,
      withRefresh: code.offline && (!grant.refreshIssued || code.forceRefresh),
      nonce: code.nonce,
      azp: code.azp
    })
  }

  /**
   * What GIDSignIn hands the app. With a server client id the ID token is minted for the server (aud = server
   * client, azp = the app) and a serverAuthCode comes along for the server to exchange with no redirect_uri.
   */
  nativeSignIn (input: NativeSignInInput): NativeSignInResult {
    const client = this.directory.requireClient(input.clientId)
    if (client.type === 'web') throw invalidRequest(`${client.id} is a web client; native sign-in needs an iOS or Android client`)
    const server = input.serverClientId ? this.directory.clients.get(input.serverClientId) : undefined
    if (input.serverClientId && server?.type !== 'web') throw invalidRequest(`Unknown web client for server_client_id: ${input.serverClientId}`)
    const user = this.directory.requireUser(input.user)
    // The SDK always asks for the basic profile, and grantedScopes accumulates across addScopes calls.
    const grant = this.tokens.grantFor(user.sub, client.id)
    for (const s of expandScopes(['openid', 'email', 'profile', ...(input.scopes ?? [])])) grant.scopes.add(s)
    const scopes = [...grant.scopes]
    const access = this.tokens.mintAccessToken(user.sub, client.id, scopes, true)
    const refresh = this.tokens.mintRefreshToken(user.sub, client.id, scopes)
    let serverAuthCode: string | undefined
    if (server) {
      const serverGrant = this.tokens.grantFor(user.sub, server.id)
      for (const s of scopes) serverGrant.scopes.add(s)
      serverAuthCode = this.createCode({
        clientId: server.id, sub: user.sub, scopes, redirectUri: null, offline: true, forceRefresh: input.prompt === 'consent', azp: client.id
      })
    }
    return {
      accessToken: access.token,
      refreshToken: refresh.token,
      idToken: this.keys.idToken({ user, aud: server?.id ?? client.id, azp: client.id, scopes, nonce: input.nonce, accessToken: access.token }),
      grantedScopes: scopes,
      ...(serverAuthCode ? { serverAuthCode } : {}),
      expiresIn: this.accessTokenTtlSeconds
    }
  }

  /** A revoked grant takes its unexchanged codes along. */
  dropCodes (sub: string, clientId: string): void {
    for (const [value, code] of this.codes) if (code.sub === sub && code.clientId === clientId) this.codes.delete(value)
  }

  clear (): void {
    this.codes.clear()
  }
}
