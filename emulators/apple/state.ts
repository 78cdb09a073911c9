import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto'
import { decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from 'jose'

/*
 * What the Apple emulator remembers: its RS256 signing key (published at /auth/keys), the Apple accounts, which
 * (client, account) pairs have signed in before (Apple sends the name only the first time), the registered clients
 * (a Services ID with its redirect URIs, or a bundle id) and the developer key their client secrets are signed with,
 * and the authorization codes handed out. Everything in memory.
 */

export const ISSUER = 'https://appleid.apple.com'
const ID_TOKEN_TTL_SECONDS = 600
const CODE_TTL_MS = 5 * 60_000
/** Apple refuses client secrets valid for longer than six months. */
const CLIENT_SECRET_MAX_SECONDS = 15_777_000

export interface AppleAccount {
  sub: string
  email: string
  /** The private-relay address Apple gives this account for "Hide My Email". */
  relayEmail: string
  firstName: string
  lastName: string
}

export interface AppleClient { id: string, redirectUris: string[] }

export interface AppleEmulatorOptions {
  clients: AppleClient[]
  users?: string[]
  /** Where POST /__emulator/notify delivers server-to-server notifications unless the request names a URL. */
  notificationUrl?: string | undefined
  teamId?: string
  keyId?: string
}

export class AppleError extends Error {
  constructor (readonly status: number, readonly error: string) { super(error) }
}

export class AppleEmulatorState {
  readonly #signing = generateKeyPairSync('rsa', { modulusLength: 2048 })
  readonly kid = randomBytes(5).toString('hex').toUpperCase()
  readonly users = new Map<string, AppleAccount>()
  readonly clients = new Map<string, AppleClient>()
  /** Pairs `${clientId} ${sub}` that signed in before. */
  readonly #authorized = new Set<string>()
  readonly #codes = new Map<string, { clientId: string, redirectUri: string, sub: string, nonce: string | undefined, hideEmail: boolean, expiresAt: number }>()
  /** The developer's "Sign in with Apple" key (.p8): client secrets are ES256 JWTs signed with it. */
  readonly developer: { teamId: string, keyId: string, privateKey: KeyObject, publicKey: KeyObject }
  notificationUrl: string | undefined

  constructor (options: AppleEmulatorOptions) {
    for (const c of options.clients) this.clients.set(c.id, c)
    for (const email of ['alice@example.com', 'bob@example.com', ...(options.users ?? [])]) this.addUser(email)
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    this.developer = { teamId: options.teamId ?? 'EMULATORTM', keyId: options.keyId ?? 'EMULATORKY', privateKey, publicKey }
    this.notificationUrl = options.notificationUrl
  }

  addUser (email: string): AppleAccount {
    const existing = this.users.get(email)
    if (existing != null) return existing
    const local = email.split('@')[0] ?? 'user'
    const account: AppleAccount = {
      // Apple's subjects look like `001234.0123abcd….1234`: stable per team, never the email.
      sub: `00${randomBytes(2).toString('hex')}.${randomBytes(16).toString('hex')}.${randomBytes(2).toString('hex')}`,
      email,
      relayEmail: `${randomBytes(5).toString('hex')}@privaterelay.appleid.com`,
      firstName: local.charAt(0).toUpperCase() + local.slice(1),
      lastName: 'Appleseed'
    }
    this.users.set(email, account)
    return account
  }

  accountBySub (sub: string): AppleAccount | undefined {
    return [...this.users.values()].find((u) => u.sub === sub)
  }

  jwks (): { keys: Array<Record<string, string>> } {
    const { n = '', e = '' } = this.#signing.publicKey.export({ format: 'jwk' })
    return { keys: [{ kty: 'RSA', kid: this.kid, use: 'sig', alg: 'RS256', n, e }] }
  }

  async #sign (claims: Record<string, unknown>): Promise<string> {
    return await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: this.kid }).sign(this.#signing.privateKey)
  }

  /** An ID token as Apple's: email_verified and is_private_email as booleans, nonce as given (the app hashed it). */
  async idToken (o: { account: AppleAccount, aud: string, nonce?: string | undefined, hideEmail?: boolean, claims?: Record<string, unknown> }): Promise<string> {
    const iat = Math.floor(Date.now() / 1000)
    const claims: Record<string, unknown> = {
      iss: ISSUER,
      aud: o.aud,
      exp: iat + ID_TOKEN_TTL_SECONDS,
      iat,
      sub: o.account.sub,
      c_hash: randomBytes(16).toString('base64url'),
      email: o.hideEmail === true ? o.account.relayEmail : o.account.email,
      email_verified: true,
      ...(o.hideEmail === true ? { is_private_email: true } : {}),
      auth_time: iat,
      nonce_supported: true,
      ...(o.nonce != null ? { nonce: o.nonce } : {}),
      ...o.claims
    }
    for (const [k, v] of Object.entries(claims)) if (v === null) Reflect.deleteProperty(claims, k)
    return await this.#sign(claims)
  }

  /** The authorize page's answer: a code, and whether Apple would send the `user` JSON (first time only). */
  authorize (o: { clientId: string, redirectUri: string, email: string, nonce: string | undefined, hideEmail: boolean }): { code: string, firstTime: boolean, account: AppleAccount } {
    const account = this.addUser(o.email)
    const key = `${o.clientId} ${account.sub}`
    const firstTime = !this.#authorized.has(key)
    this.#authorized.add(key)
    const code = `c${randomBytes(16).toString('hex')}.0.${randomBytes(4).toString('hex')}`
    this.#codes.set(code, { clientId: o.clientId, redirectUri: o.redirectUri, sub: account.sub, nonce: o.nonce, hideEmail: o.hideEmail, expiresAt: Date.now() + CODE_TTL_MS })
    return { code, firstTime, account }
  }

  /** POST /auth/token, authorization_code: the client secret must be a JWT signed with the developer key. */
  async exchange (p: { clientId?: string | undefined, clientSecret?: string | undefined, code?: string | undefined, redirectUri?: string | undefined, grantType?: string | undefined }) {
    if (p.grantType !== 'authorization_code') throw new AppleError(400, 'unsupported_grant_type')
    const client = p.clientId != null ? this.clients.get(p.clientId) : undefined
    if (client == null || p.clientSecret == null) throw new AppleError(400, 'invalid_client')
    await this.#checkClientSecret(p.clientSecret, client.id)
    const pending = p.code != null ? this.#codes.get(p.code) : undefined
    if (p.code != null) this.#codes.delete(p.code) // single use, even when it fails below
    if (pending == null || pending.expiresAt < Date.now() || pending.clientId !== client.id || pending.redirectUri !== p.redirectUri) throw new AppleError(400, 'invalid_grant')
    const account = this.accountBySub(pending.sub)
    if (account == null) throw new AppleError(400, 'invalid_grant')
    return {
      access_token: `a${randomBytes(16).toString('hex')}.0.${randomBytes(4).toString('hex')}`,
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: `r${randomBytes(16).toString('hex')}.0.${randomBytes(4).toString('hex')}`,
      id_token: await this.idToken({ account, aud: client.id, nonce: pending.nonce, hideEmail: pending.hideEmail })
    }
  }

  async #checkClientSecret (secret: string, clientId: string): Promise<void> {
    try {
      const header = decodeProtectedHeader(secret)
      if (header.alg !== 'ES256' || header.kid !== this.developer.keyId) throw new Error('header')
      const key = await importJWK(this.developer.publicKey.export({ format: 'jwk' }), 'ES256')
      const { payload } = await jwtVerify(secret, key, { issuer: this.developer.teamId, audience: ISSUER, subject: clientId, algorithms: ['ES256'] })
      if (payload.exp == null || payload.iat == null || payload.exp - payload.iat > CLIENT_SECRET_MAX_SECONDS) throw new Error('lifetime')
    } catch {
      throw new AppleError(400, 'invalid_client')
    }
  }

  /** A server-to-server notification as Apple sends it: `{ payload: <JWS> }` whose `events` claim is a JSON string. */
  async notification (o: { type: string, account: AppleAccount, clientId: string, eventTimeMs?: number, claims?: Record<string, unknown> }): Promise<string> {
    const events: Record<string, unknown> = { type: o.type, sub: o.account.sub, event_time: o.eventTimeMs ?? Date.now() }
    if (o.type === 'email-disabled' || o.type === 'email-enabled') Object.assign(events, { email: o.account.relayEmail, is_private_email: 'true' })
    const iat = Math.floor(Date.now() / 1000)
    return await this.#sign({ iss: ISSUER, aud: o.clientId, iat, jti: randomUUID(), events: JSON.stringify(events), ...o.claims })
  }

  /** The developer key as Apple hands it out (a .p8 file): what APPLE_PRIVATE_KEY holds in dev mode. */
  developerKeyPem (): string {
    return this.developer.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  }
}
