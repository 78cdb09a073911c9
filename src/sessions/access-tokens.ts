import { createPublicKey } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Algorithm } from 'fast-jwt'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import { Errors, FrameworkCodes } from '../errors.ts'
import { kidOf } from '../jwks/remote-key-set.ts'
import { KEY_RELOAD_MS, SIGNING_ALG, SigningKeys } from '../signing-keys/signing-keys.ts'
import type { KeySnapshot, PublicJwk } from '../signing-keys/signing-keys.ts'

/** The claims of an access token (RFC 9068-style, `typ: at+jwt`). */
export interface AccessClaims {
  sub: string
  sid: string
  /** The session's primary sign-in (OIDC `auth_time`), kept across refreshes; absent in tokens minted before it existed. */
  auth_time?: number
  email: string
  name: string | null
  iat: number
  exp: number
  iss: string
  aud: string
}

export interface SignedAccessToken {
  token: string
  expiresAt: Date
}

const ACCESS_TOKEN_TYPE = 'at+jwt'

/** Verifies a token's signature and claims; throws fast-jwt's TokenError (its `code` says why). */
export type TokenVerifier = (token: string) => AccessClaims

/** A service token's lifetime: long enough for an app to hand it to its backend, short if it leaks (issue 21 item 1). */
export const SERVICE_TOKEN_TTL_SECONDS = 300

/** A token naming a key id we do not hold re-reads the keys at most this often: forged kids cost one query per period. */
const UNKNOWN_KID_RELOAD_MS = 5_000

interface KeyEntry { verify: TokenVerifier, until: number | null }

interface KeyState {
  signKid: string
  sign: (payload: object) => string
  /** Asymmetric keys, then (during the upgrade window only) the HS256 JWT_SECRETs. */
  verifiers: Map<string, KeyEntry>
  /** Service tokens: signed by the same key with `aud` in the payload (one service client), at most 5 minutes. */
  serviceSign: (payload: object) => string
  /** The same keys without the API audience check: POST /oauth/token compares `aud` with the client itself. */
  subjectVerifiers: Map<string, KeyEntry>
  jwks: PublicJwk[]
  loadedAt: number
}

export interface AccessTokensOptions {
  keys: SigningKeys
  clock: Clock
  log: FastifyBaseLogger
  ttlSeconds: number
  issuer: string
  /** Issuers HS256 tokens of before the switch may carry (JWT_ISSUER's former default). */
  legacyIssuers: string[]
  audience: string
  clockSkewSeconds: number
  /** JWT_SECRET and JWT_PREVIOUS_SECRETS by key id: HS256 verification during the upgrade window. */
  legacySecrets: ReadonlyMap<string, Buffer>
}

export class AccessTokens {
  readonly #o: AccessTokensOptions
  #state!: KeyState
  #reloading: Promise<void> | undefined
  #lastUnknownKidReload = 0
  #closed = false

  constructor (options: AccessTokensOptions) {
    this.#o = options
  }

  #verifyOptions (algorithm: Algorithm, issuers: string[]) {
    return {
      // One algorithm per key: `none`, and HS256 keyed with a published public key, are refused before any key is used.
      algorithms: [algorithm],
      allowedIss: issuers,
      allowedAud: this.#o.audience,
      // Explicit typing: a refresh token, an ID token or any other JWT signed with the key is not an access token.
      checkTyp: ACCESS_TOKEN_TYPE,
      requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud'],
      clockTolerance: this.#o.clockSkewSeconds * 1000
    }
  }

  /** Builds signers and verifiers from the keys as stored; each is built once per key (see load()). */
  async load (): Promise<void> {
    const snapshot: KeySnapshot = await this.#o.keys.load()
    const previous = this.#state?.verifiers
    const previousSubject = this.#state?.subjectVerifiers
    const verifiers = new Map<string, KeyEntry>()
    const subjectVerifiers = new Map<string, KeyEntry>()
    for (const { kid, jwk, until } of snapshot.verifying) {
      // Building a verifier parses the key: keep the one already built for a key we hold.
      const verify = previous?.get(kid)?.verify ?? createVerifier({
        ...this.#verifyOptions(SIGNING_ALG, [this.#o.issuer]),
        key: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string,
        // A client sends the same token for its whole life: remembering verified tokens (until they expire) spares
        // the ECDSA verification (≈0.3 ms here) on all but the first request. A changed byte is another token.
        cache: true
      }) as TokenVerifier
      verifiers.set(kid, { verify, until: until?.getTime() ?? null })
      const { allowedAud: _api, ...anyAudience } = this.#verifyOptions(SIGNING_ALG, [this.#o.issuer])
      const verifySubject = previousSubject?.get(kid)?.verify ?? createVerifier({
        ...anyAudience,
        key: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string
      }) as TokenVerifier
      subjectVerifiers.set(kid, { verify: verifySubject, until: until?.getTime() ?? null })
    }
    const legacyUntil = snapshot.legacyHs256Until?.getTime()
    if (legacyUntil != null && legacyUntil > this.#o.clock.now().getTime()) {
      for (const [kid, key] of this.#o.legacySecrets) {
        verifiers.set(kid, { verify: createVerifier({ ...this.#verifyOptions('HS256', [this.#o.issuer, ...this.#o.legacyIssuers]), key }) as TokenVerifier, until: legacyUntil })
      }
    }
    const signKid = snapshot.current.kid
    const sign = this.#state?.signKid === signKid
      ? this.#state.sign
      : createSigner({
        key: snapshot.current.privatePem,
        algorithm: SIGNING_ALG,
        kid: signKid,
        iss: this.#o.issuer,
        aud: this.#o.audience,
        expiresIn: this.#o.ttlSeconds * 1000, // milliseconds for fast-jwt
        header: { alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYPE }
      })
    const serviceSign = this.#state?.signKid === signKid
      ? this.#state.serviceSign
      : createSigner({
        key: snapshot.current.privatePem,
        algorithm: SIGNING_ALG,
        kid: signKid,
        iss: this.#o.issuer,
        expiresIn: SERVICE_TOKEN_TTL_SECONDS * 1000,
        header: { alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYPE }
      })
    this.#state = { signKid, sign, serviceSign, subjectVerifiers, verifiers, jwks: snapshot.verifying.map((k) => k.jwk), loadedAt: this.#o.clock.now().getTime() }
  }

  /** One re-read at a time; a failed one is logged and the keys in hand stay in use. */
  async #reload (): Promise<void> {
    this.#reloading ??= this.load()
      .catch((err: unknown) => { this.#o.log.warn({ err }, 'signing keys: re-reading failed; keeping the keys in hand') })
      .finally(() => { this.#reloading = undefined })
    await this.#reloading
  }

  /** Starts a re-read in the background when the keys in hand are older than KEY_RELOAD_MS. */
  #refreshIfStale (): void {
    if (!this.#closed && this.#o.clock.now().getTime() - this.#state.loadedAt >= KEY_RELOAD_MS) void this.#reload()
  }

  /** Waits for a re-read under way (shutdown: no query after the database closes). */
  async close (): Promise<void> {
    this.#closed = true
    await this.#reloading
  }

  /** The public keys that verify now: what GET /.well-known/jwks.json publishes. */
  publicKeys (): PublicJwk[] {
    this.#refreshIfStale()
    const now = this.#o.clock.now().getTime()
    return this.#state.jwks.filter((k) => { const until = this.#state.verifiers.get(k.kid)?.until; return until == null || until > now })
  }

  sign (user: { id: string, email: string, name: string | null }, sessionId: string, now = new Date(), authTime = now): SignedAccessToken {
    this.#refreshIfStale()
    const iat = Math.floor(now.getTime() / 1000)
    const claims = { sub: user.id, email: user.email, name: user.name, sid: sessionId, auth_time: Math.floor(authTime.getTime() / 1000), iat }
    const token = this.#state.sign(claims)
    return { token, expiresAt: new Date((iat + this.#o.ttlSeconds) * 1000) }
  }

  /** Verifies `Authorization: Bearer …`; any failure is UNAUTHENTICATED, with a hint when it merely expired. */
  async verify (request: FastifyRequest): Promise<AccessClaims> {
    const header = request.headers.authorization
    if (header == null || !/^Bearer [A-Za-z0-9._~+/=-]+$/.test(header)) throw Errors.authenticationRequired()
    return await this.#verifyToken(header.slice(7))
  }

  /** Verifies a token handed over as a value (RFC 8693's `subject_token`), with every check `verify` makes. */
  async verifyValue (_request: FastifyRequest, token: string): Promise<AccessClaims> {
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw Errors.accessTokenInvalid()
    return await this.#verifyToken(token)
  }

  /**
   * A service token: what an app hands its backend for POST /oauth/token. Its `aud` is that one service client, so
   * GraphQL (which accepts only the API's audience) refuses it, and another client cannot use it; `sid` binds it to
   * the session, whose end ends it.
   */
  signService (user: { id: string }, sessionId: string, clientId: string, now = new Date()): SignedAccessToken {
    this.#refreshIfStale()
    const iat = Math.floor(now.getTime() / 1000)
    const token = this.#state.serviceSign({ sub: user.id, sid: sessionId, aud: clientId, iat })
    return { token, expiresAt: new Date((iat + SERVICE_TOKEN_TTL_SECONDS) * 1000) }
  }

  /**
   * Verifies a subject token at POST /oauth/token: signature, iss, typ, exp as for API tokens, any audience (the
   * exchange compares it with the client). `apiToken` says the token is an API access token, refused there.
   */
  async verifySubject (token: string): Promise<AccessClaims & { apiToken: boolean }> {
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw Errors.accessTokenInvalid()
    const claims = await this.#verifyToken(token, 'subject')
    const aud = claims.aud as string | string[]
    return { ...claims, apiToken: Array.isArray(aud) ? aud.includes(this.#o.audience) : aud === this.#o.audience }
  }

  async #verifyToken (token: string, use: 'api' | 'subject' = 'api'): Promise<AccessClaims> {
    const entries = () => use === 'api' ? this.#state.verifiers : this.#state.subjectVerifiers
    const kid = kidOf(token)
    if (kid == null) throw Errors.accessTokenInvalid()
    this.#refreshIfStale()
    // Verification keys come only from our own database and configuration, chosen by `kid`; a `jku`, `x5u` or
    // embedded `jwk` in the token header is never followed (JWT BCP §3.10).
    let entry = entries().get(kid)
    if (entry == null) {
      // Perhaps another process rotated a moment ago: re-read, at most once per UNKNOWN_KID_RELOAD_MS.
      const now = this.#o.clock.now().getTime()
      if (now - this.#lastUnknownKidReload >= UNKNOWN_KID_RELOAD_MS && !this.#closed) {
        this.#lastUnknownKidReload = now
        await this.#reload()
        entry = entries().get(kid)
      }
    }
    // A retired key (past the end of every token it signed) verifies nothing, even before the next re-read.
    if (entry == null || (entry.until != null && entry.until <= this.#o.clock.now().getTime())) throw Errors.accessTokenInvalid()
    try {
      return entry.verify(token)
    } catch (err) {
      const expired = FrameworkCodes.JWT_EXPIRED.has(String((err as { code?: unknown }).code))
      throw expired ? Errors.accessTokenExpired() : Errors.accessTokenInvalid()
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: AccessTokens
    signingKeys: SigningKeys
  }
}

/** JWT_ISSUER's default before it became PUBLIC_URL: HS256 tokens of the upgrade window may carry it. */
const FORMER_DEFAULT_ISSUER = 'inboxgate'

export default fp(async (app) => {
  const { jwtKeys, JWT_ISSUER, JWT_AUDIENCE, ACCESS_TOKEN_TTL_SECONDS, JWT_CLOCK_SKEW_SECONDS } = app.config
  const signingKeys = new SigningKeys({
    prisma: app.prisma,
    clock: app.clock,
    secrets: jwtKeys,
    accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
    clockSkewSeconds: JWT_CLOCK_SKEW_SECONDS
  })
  const accessTokens = new AccessTokens({
    keys: signingKeys,
    clock: app.clock,
    log: app.log,
    ttlSeconds: ACCESS_TOKEN_TTL_SECONDS,
    issuer: JWT_ISSUER,
    legacyIssuers: app.config.jwtIssuerDefaulted ? [FORMER_DEFAULT_ISSUER] : [],
    audience: JWT_AUDIENCE,
    clockSkewSeconds: JWT_CLOCK_SKEW_SECONDS,
    legacySecrets: jwtKeys.accepted
  })
  await accessTokens.load()
  app.decorate('signingKeys', signingKeys)
  app.decorate('accessTokens', accessTokens)
  app.addHook('preClose', async () => { await accessTokens.close() })
}, { name: 'access-tokens', dependencies: ['config', 'prisma'] })
