import { Authorizations, type AuthParams, type AuthRequest, type NativeSignInInput, type NativeSignInResult } from './authorization.ts'
import { OAuthError, SIGN_IN_SCOPES } from './oauth.ts'
import { createClock, millisOf, type Clock } from './clock.ts'
import { Directory, type ClientInput, type EmulatorClient, type EmulatorUser, type UserInput } from './directory.ts'
import { Faults, type Endpoint, type Fault, type FaultInput, type Stats } from './faults.ts'
import { SigningKeys } from './keys.ts'
import { GmailPush, type PushOptions } from './push.ts'
import { RISC_ISSUER, RiscTransmitter, type RiscEventName, type RiscOptions } from './risc.ts'
import { ACCESS_TOKEN_TTL_SECONDS, TokenStore, type AccessToken, type GrantView, type Revocation, type TokenResponse } from './tokens.ts'

// The emulator's whole state, composed from its parts: clients and users (directory.ts), authorization
// requests and codes (authorization.ts), grants and tokens (tokens.ts), signing keys and ID tokens (keys.ts),
// faults and stats (faults.ts), on one clock (clock.ts). The HTTP routes, the control API and tests use this.

export type { AuthParams, AuthRequest, NativeSignInInput, NativeSignInResult } from './authorization.ts'
export { createClock, type Clock } from './clock.ts'
export type { ClientInput, EmulatorClient, EmulatorUser, UserInput } from './directory.ts'
export type { Endpoint, Fault, FaultInput, Stats } from './faults.ts'
export { GMAIL_PROFILE_SCOPES, GMAIL_READONLY } from './gmail.ts'
export { ISSUER, OAuthError, REVOKED, SIGN_IN_SCOPES } from './oauth.ts'
export { ACCESS_TOKEN_TTL_SECONDS, MAX_REFRESH_TOKENS_PER_GRANT, type AccessToken, type GrantView, type TokenResponse } from './tokens.ts'

export interface StateOptions {
  clients?: ClientInput[]
  users?: UserInput[]
  clock?: Clock
  /**
   * Lifetime of new access tokens, in seconds (default 3599, Google's). Dev mode shortens it so that the
   * server, which dates tokens on the wall clock, refreshes one within minutes instead of an hour.
   */
  accessTokenTtlSeconds?: number
  risc?: RiscOptions
  push?: PushOptions
}

export class GoogleEmulatorState {
  readonly clock: Clock
  readonly accessTokenTtlSeconds: number
  readonly clients: Map<string, EmulatorClient>
  /** By sub. */
  readonly users: Map<string, EmulatorUser>
  private readonly directory = new Directory()
  private readonly keys: SigningKeys
  private readonly tokens: TokenStore
  private readonly authorizations: Authorizations
  private readonly faults = new Faults()
  /** Cross-Account Protection: events pushed to the receiver registered with stream:update. */
  readonly risc: RiscTransmitter
  /** Gmail push: watches, history, messages delivered through the control API, Pub/Sub push deliveries. */
  readonly push: GmailPush

  constructor (options: StateOptions = {}) {
    this.clock = options.clock ?? createClock()
    const ttl = options.accessTokenTtlSeconds ?? ACCESS_TOKEN_TTL_SECONDS
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`accessTokenTtlSeconds must be a positive integer, got ${ttl}`)
    this.accessTokenTtlSeconds = ttl
    this.clients = this.directory.clients
    this.users = this.directory.users
    const now = () => this.now()
    const directory = this.directory
    this.keys = new SigningKeys(now)
    this.tokens = new TokenStore({
      directory, keys: this.keys, now, accessTokenTtlSeconds: ttl, onGrantRevoked: (sub, clientId) => this.authorizations.dropCodes(sub, clientId)
    })
    this.risc = new RiscTransmitter(now, options.risc)
    this.push = new GmailPush({ now, sign: claims => this.keys.sign(claims) }, options.push)
    this.authorizations = new Authorizations({ directory, tokens: this.tokens, keys: this.keys, now, accessTokenTtlSeconds: ttl })
    for (const client of options.clients ?? []) this.upsertClient(client)
    for (const user of options.users ?? []) this.upsertUser(user)
    this.rotateKeys()
  }

  now (): number {
    return millisOf(this.clock)
  }

  advance (ms: number): number {
    this.clock.advance(ms)
    return this.now()
  }

  // ---- clients and users ----

  upsertClient (input: ClientInput): EmulatorClient { return this.directory.upsertClient(input) }
  upsertUser (input: UserInput): EmulatorUser { return this.directory.upsertUser(input) }
  /** By sub, or by email (case-insensitive). */
  findUser (ref: string): EmulatorUser | undefined { return this.directory.findUser(ref) }

  // ---- the authorization request ----

  validateAuthRequest (params: AuthParams): AuthRequest { return this.authorizations.validateAuthRequest(params) }
  deny (req: AuthRequest, error?: string): string { return this.authorizations.deny(req, error) }
  authorize (req: AuthRequest, userRef: string, granted?: string | readonly string[]): { redirect: string, code?: string, scopes: string[] } {
    return this.authorizations.authorize(req, userRef, granted)
  }

  authorizeSilently (req: AuthRequest): string { return this.authorizations.authorizeSilently(req) }
  nativeSignIn (input: NativeSignInInput): NativeSignInResult { return this.authorizations.nativeSignIn(input) }

  // ---- the token endpoint, tokeninfo, userinfo, revoke ----

  authenticateClient (clientId: string | undefined, secret: string | undefined): EmulatorClient {
    return this.directory.authenticateClient(clientId, secret)
  }

  exchangeCode (client: EmulatorClient, params: { code?: string, redirectUri?: string, codeVerifier?: string }): TokenResponse {
    return this.authorizations.exchangeCode(client, params)
  }

  refresh (client: EmulatorClient, refreshToken: string | undefined): TokenResponse { return this.tokens.refresh(client, refreshToken) }
  /** A live (unexpired, unrevoked) access token, for the resource endpoints. */
  lookupAccessToken (value: string | undefined): AccessToken | undefined { return this.tokens.lookupAccessToken(value) }
  accessTokenInfo (value: string): Record<string, string> { return this.tokens.accessTokenInfo(value) }
  idTokenInfo (idToken: string): Record<string, string> { return this.keys.idTokenInfo(idToken) }
  userinfo (at: AccessToken, version: 'v2' | 'v3'): Record<string, unknown> { return this.tokens.userinfo(at, version) }
  /** Revoking any access or refresh token ends the whole grant, like Google. False when the token is unknown. */
  revokeToken (value: string): boolean { return this.tokens.revokeToken(value) }
  revokeGrant (sub: string, clientId: string): boolean { return this.tokens.revokeGrant(sub, clientId) }

  /** Every grant ended so far (by /revoke or the user), oldest first. */
  revocations (filter?: { user?: string, clientId?: string }): Revocation[] {
    const sub = filter?.user ? this.findUser(filter.user)?.sub : undefined
    return this.tokens.revocations.filter(r => (!filter?.user || r.sub === sub) && (!filter?.clientId || r.clientId === filter.clientId))
  }

  /** What the user does in their Google Account "third-party access" page: all clients unless one is named. */
  revokeUserAccess (userRef: string, clientId?: string): number {
    const user = this.findUser(userRef)
    const clients = [...new Set(this.grantsOf({ user: userRef, clientId }).map(g => g.clientId))]
    const revoked = this.tokens.revokeUserAccess(userRef, clientId)
    // Google tells the app (Cross-Account Protection) that the user removed its access: one event per client.
    if (user != null) for (const aud of clients) this.risc.push('tokens-revoked', this.riscSubject(user.sub), aud)
    return revoked
  }

  /** The user signs out of every Google session, or Google marks the account hijacked/disabled/enabled: a RISC event. */
  accountEvent (userRef: string, name: Exclude<RiscEventName, 'token-revoked' | 'tokens-revoked' | 'verification'>, extra: Record<string, unknown> = {}): string | undefined {
    const user = this.directory.requireUser(userRef)
    const aud = this.grantsOf({ user: userRef })[0]?.clientId ?? [...this.clients.values()].find(c => c.type === 'web')?.id ?? [...this.clients.keys()][0]
    if (aud == null) return undefined
    return this.risc.push(name, this.riscSubject(user.sub), aud, extra)?.jti
  }

  riscSubject (sub: string): Record<string, string> {
    return { subject_type: 'iss-sub', iss: RISC_ISSUER, sub }
  }

  /** A password change kills refresh tokens that carry Gmail scopes; access tokens live on until they expire. */
  passwordChange (userRef: string): number { return this.tokens.passwordChange(userRef) }
  grantsOf (filter?: { user?: string, clientId?: string }): GrantView[] { return this.tokens.grantsOf(filter) }

  // ---- keys ----

  /**
   * An ID token for `user` minted directly (tests and the control API), with claims overridden at will; the
   * normal flows (auth code, native sign-in) mint theirs themselves.
   */
  mintIdToken (input: { user: string, aud: string, azp?: string, scopes?: string[], nonce?: string, claims?: Record<string, unknown> }): string {
    const user = this.findUser(input.user)
    if (!user) throw new OAuthError(400, 'invalid_request', `Unknown user ${input.user}`)
    return this.keys.idToken({ user, aud: input.aud, azp: input.azp ?? input.aud, scopes: input.scopes ?? [...SIGN_IN_SCOPES], nonce: input.nonce, claims: input.claims })
  }

  /** Adds a key that signs from now on; older keys stay published until removed. Returns its kid. */
  rotateKeys (): string { return this.keys.rotate() }
  removeKey (kid: string): boolean { return this.keys.remove(kid) }
  get kids (): string[] { return this.keys.kids }
  pemCertificates (): Record<string, string> { return this.keys.pemCertificates() }
  jwks (): { keys: Record<string, string>[] } { return this.keys.jwks() }

  // ---- faults and stats ----

  addFault (input: FaultInput): Fault { return this.faults.add(input) }
  clearFaults (endpoint?: Endpoint | '*'): void { this.faults.clear(endpoint) }
  listFaults (): Fault[] { return this.faults.list() }
  /** The fault to apply to this request, if any; counts it down. invalid_grant only hits refresh_token grants. */
  takeFault (endpoint: Endpoint, grantType?: string): Fault | undefined { return this.faults.take(endpoint, grantType) }
  recordRequest (endpoint: Endpoint, grantType?: string): void { this.faults.recordRequest(endpoint, grantType) }
  stats (): Stats { return this.faults.stats() }
  resetStats (): void { this.faults.resetStats() }

  /** Forget grants, codes, tokens, faults and stats; clients, users, keys and the clock stay. */
  reset (): void {
    this.tokens.clear()
    this.authorizations.clear()
    this.faults.clear()
    this.faults.resetStats()
    this.push.reset()
  }
}
