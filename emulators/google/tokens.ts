import type { Directory, EmulatorClient, EmulatorUser } from './directory.ts'
import { isGmailScope } from './gmail.ts'
import type { SigningKeys } from './keys.ts'
import { DAY, invalidGrant, invalidRequest, OAuthError, randomToken, REVOKED, SECOND, USERINFO_EMAIL, USERINFO_PROFILE } from './oauth.ts'

// Grants and the tokens they carry: issuing, refreshing, expiring, looking up and revoking them.

/** Google's access-token lifetime; the `accessTokenTtlSeconds` option shortens it (dev mode). */
export const ACCESS_TOKEN_TTL_SECONDS = 3599
export const MAX_REFRESH_TOKENS_PER_GRANT = 100
const TESTING_REFRESH_TTL = 7 * DAY
const UNUSED_REFRESH_TTL = 183 * DAY

export interface Grant {
  sub: string
  clientId: string
  scopes: Set<string>
  /** Google hands out a refresh token on the first offline consent only (or with prompt=consent). */
  refreshIssued: boolean
  /** Live refresh tokens, oldest first. */
  refreshTokens: string[]
  createdAt: number
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

/** A grant ended at Google, kept in order for tests to see (a stored grant's revocation is otherwise invisible). */
export interface Revocation {
  sub: string
  email?: string
  clientId: string
  scopes: string[]
  /** `token`: someone called /revoke with one of its tokens; `user`: the user removed the app (control API). */
  by: 'token' | 'user'
  at: number
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

export interface IssueInput {
  client: EmulatorClient
  user: EmulatorUser
  scopes: string[]
  offline: boolean
  withRefresh: boolean
  nonce?: string
  azp: string
}

export interface TokenStoreOptions {
  directory: Directory
  keys: SigningKeys
  now: () => number
  accessTokenTtlSeconds: number
  /** Called whenever a grant ends, so that its pending authorization codes die with it. */
  onGrantRevoked: (sub: string, clientId: string) => void
}

const grantKey = (sub: string, clientId: string) => `${sub} ${clientId}`

export class TokenStore {
  private readonly grants = new Map<string, Grant>()
  private readonly accessTokens = new Map<string, AccessToken>()
  private readonly refreshTokens = new Map<string, RefreshToken>()
  /** Every grant ended, oldest first (GET /__emulator/revocations). */
  readonly revocations: Revocation[] = []
  private readonly directory: Directory
  private readonly keys: SigningKeys
  private readonly now: () => number
  private readonly accessTokenTtlSeconds: number
  private readonly onGrantRevoked: (sub: string, clientId: string) => void

  constructor (options: TokenStoreOptions) {
    this.directory = options.directory
    this.keys = options.keys
    this.now = options.now
    this.accessTokenTtlSeconds = options.accessTokenTtlSeconds
    this.onGrantRevoked = options.onGrantRevoked
  }

  grant (sub: string, clientId: string): Grant | undefined {
    return this.grants.get(grantKey(sub, clientId))
  }

  /** The grant of `sub` to `clientId`, created empty on first use. */
  grantFor (sub: string, clientId: string): Grant {
    const key = grantKey(sub, clientId)
    let grant = this.grants.get(key)
    if (!grant) {
      grant = { sub, clientId, scopes: new Set(), refreshIssued: false, refreshTokens: [], createdAt: this.now() }
      this.grants.set(key, grant)
    }
    return grant
  }

  grantsOfClient (clientId: string): Grant[] {
    return [...this.grants.values()].filter(g => g.clientId === clientId)
  }

  issue (o: IssueInput): TokenResponse {
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
        ? { id_token: this.keys.idToken({ user: o.user, aud: o.client.id, azp: o.azp, scopes: o.scopes, nonce: o.nonce, accessToken: access.token }) }
        : {})
    }
  }

  /** The token endpoint's refresh_token grant. */
  refresh (client: EmulatorClient, refreshToken: string | undefined): TokenResponse {
    if (!refreshToken) throw invalidRequest('Missing required parameter: refresh_token')
    const rt = this.liveRefreshToken(refreshToken)
    const user = rt && this.directory.users.get(rt.sub)
    if (!rt || !user) throw invalidGrant(REVOKED)
    if (rt.clientId !== client.id) throw new OAuthError(401, 'unauthorized_client', 'Unauthorized')
    rt.lastUsedAt = this.now()
    return this.issue({ client, user, scopes: rt.scopes, offline: true, withRefresh: false, azp: client.id })
  }

  mintAccessToken (sub: string, clientId: string, scopes: string[], offline: boolean): AccessToken {
    const now = this.now()
    // Expired tokens are otherwise dropped only when presented: keep a long dev session's memory flat.
    if (this.accessTokens.size >= 10_000) for (const [value, at] of this.accessTokens) if (at.expiresAt <= now) this.accessTokens.delete(value)
    const at: AccessToken = { token: randomToken('ya29.a0', 132), sub, clientId, scopes, offline, expiresAt: now + this.accessTokenTtlSeconds * SECOND }
    this.accessTokens.set(at.token, at)
    return at
  }

  mintRefreshToken (sub: string, clientId: string, scopes: string[]): RefreshToken {
    const grant = this.grantFor(sub, clientId)
    const now = this.now()
    const rt: RefreshToken = { token: randomToken('1//0', 75), sub, clientId, scopes, createdAt: now, lastUsedAt: now }
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
    const client = this.directory.clients.get(rt.clientId)
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
    if (at.expiresAt > this.now() && this.directory.users.has(at.sub)) return at
    this.accessTokens.delete(at.token)
    return undefined
  }

  accessTokenInfo (value: string): Record<string, string> {
    const at = this.lookupAccessToken(value)
    const user = at && this.directory.users.get(at.sub)
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

  /** OpenID userinfo; v2 renames sub→id and email_verified→verified_email. Fields follow the granted scopes. */
  userinfo (at: AccessToken, version: 'v2' | 'v3'): Record<string, unknown> {
    const user = this.directory.users.get(at.sub)
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

  revokeGrant (sub: string, clientId: string, by: Revocation['by'] = 'token'): boolean {
    const grant = this.grants.get(grantKey(sub, clientId))
    if (grant) this.revocations.push({ sub, email: this.directory.users.get(sub)?.email, clientId, scopes: [...grant.scopes], by, at: this.now() })
    const existed = this.grants.delete(grantKey(sub, clientId))
    const ours = (t: { sub: string, clientId: string }) => t.sub === sub && t.clientId === clientId
    this.dropRefreshTokens(ours)
    for (const at of this.accessTokens.values()) if (ours(at)) this.accessTokens.delete(at.token)
    this.onGrantRevoked(sub, clientId)
    return existed
  }

  /** What the user does in their Google Account "third-party access" page: all clients unless one is named. */
  revokeUserAccess (userRef: string, clientId?: string): number {
    const user = this.directory.requireUser(userRef)
    const clients = [...this.grants.values()].filter(g => g.sub === user.sub && (!clientId || g.clientId === clientId)).map(g => g.clientId)
    for (const id of clients) this.revokeGrant(user.sub, id, 'user')
    return clients.length
  }

  /** A password change kills refresh tokens that carry Gmail scopes; access tokens live on until they expire. */
  passwordChange (userRef: string): number {
    const user = this.directory.requireUser(userRef)
    return this.dropRefreshTokens(rt => rt.sub === user.sub && rt.scopes.some(isGmailScope))
  }

  grantsOf (filter: { user?: string, clientId?: string } = {}): GrantView[] {
    const user = filter.user ? this.directory.requireUser(filter.user) : undefined
    const now = this.now()
    return [...this.grants.values()]
      .filter(g => (!user || g.sub === user.sub) && (!filter.clientId || g.clientId === filter.clientId))
      .map(g => ({
        sub: g.sub,
        email: this.directory.users.get(g.sub)?.email,
        clientId: g.clientId,
        scopes: [...g.scopes],
        refreshTokenIssued: g.refreshIssued,
        refreshTokens: g.refreshTokens.filter(t => this.liveRefreshToken(t)),
        accessTokens: [...this.accessTokens.values()].filter(a => a.sub === g.sub && a.clientId === g.clientId && a.expiresAt > now).length,
        createdAt: g.createdAt
      }))
  }

  clear (): void {
    this.revocations.length = 0
    this.grants.clear()
    this.accessTokens.clear()
    this.refreshTokens.clear()
  }
}
