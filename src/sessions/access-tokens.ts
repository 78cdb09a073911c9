import fastifyJwt from '@fastify/jwt'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Algorithm } from 'fast-jwt'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Errors, FrameworkCodes } from '../errors.ts'

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

/** The `kid` of a compact JWS's header, without verifying anything (it only picks the key to verify with). */
function kidOf (token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const kid = (JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { kid?: unknown }).kid
    return typeof kid === 'string' ? kid : undefined
  } catch {
    return undefined
  }
}

/** A service token's lifetime: long enough for an app to hand it to its backend, short if it leaks (issue 21 item 1). */
export const SERVICE_TOKEN_TTL_SECONDS = 300

/** Signing and verifying service tokens: `aud` is one service client, never the API's audience. */
export interface ServiceTokenKeys {
  sign: (payload: object) => string
  /** Per accepted key id; checks everything but `aud` (the caller compares it with the authenticated client). */
  verifiers: ReadonlyMap<string, TokenVerifier>
  apiAudience: string
}

export class AccessTokens {
  readonly #sign: (payload: object) => string
  readonly #ttlSeconds: number
  readonly #verifiers: ReadonlyMap<string, TokenVerifier>
  readonly #service: ServiceTokenKeys

  /** `verifiers`: one per accepted key id, each built once (see the plugin below for why). */
  constructor (sign: (payload: object) => string, ttlSeconds: number, verifiers: ReadonlyMap<string, TokenVerifier>, service: ServiceTokenKeys) {
    this.#sign = sign
    this.#ttlSeconds = ttlSeconds
    this.#verifiers = verifiers
    this.#service = service
  }

  /**
   * A service token: what an app hands its backend for POST /oauth/token. Its `aud` is that one service client, so
   * GraphQL (which accepts only the API's audience) refuses it, and another client cannot use it; `sid` binds it to
   * the session, whose end ends it.
   */
  signService (user: { id: string }, sessionId: string, clientId: string, now = new Date()): SignedAccessToken {
    const iat = Math.floor(now.getTime() / 1000)
    const token = this.#service.sign({ sub: user.id, sid: sessionId, aud: clientId, iat })
    return { token, expiresAt: new Date((iat + SERVICE_TOKEN_TTL_SECONDS) * 1000) }
  }

  /**
   * Verifies a subject token at POST /oauth/token: signature, iss, typ, exp as for API tokens, any audience (the
   * exchange compares it with the client). `apiToken` says the token is an API access token, refused there.
   */
  verifySubject (token: string): AccessClaims & { apiToken: boolean } {
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw Errors.accessTokenInvalid()
    const kid = kidOf(token)
    const verifier = kid != null ? this.#service.verifiers.get(kid) : undefined
    if (verifier == null) throw Errors.accessTokenInvalid()
    let claims: AccessClaims
    try {
      claims = verifier(token)
    } catch {
      throw Errors.accessTokenInvalid()
    }
    const aud = claims.aud as string | string[]
    return { ...claims, apiToken: Array.isArray(aud) ? aud.includes(this.#service.apiAudience) : aud === this.#service.apiAudience }
  }

  sign (user: { id: string, email: string, name: string | null }, sessionId: string, now = new Date(), authTime = now): SignedAccessToken {
    const iat = Math.floor(now.getTime() / 1000)
    // `sub` in the payload rather than as a sign option: @fastify/jwt builds a new signer for every call given options.
    const claims = { sub: user.id, email: user.email, name: user.name, sid: sessionId, auth_time: Math.floor(authTime.getTime() / 1000), iat }
    const token = this.#sign(claims)
    return { token, expiresAt: new Date((iat + this.#ttlSeconds) * 1000) }
  }

  /** Verifies `Authorization: Bearer …`; any failure is UNAUTHENTICATED, with a hint when it merely expired. */
  async verify (request: FastifyRequest): Promise<AccessClaims> {
    const header = request.headers.authorization
    if (header == null || !/^Bearer [A-Za-z0-9._~+/=-]+$/.test(header)) throw Errors.authenticationRequired()
    return this.#verifyToken(header.slice(7))
  }

  #verifyToken (token: string): AccessClaims {
    const kid = kidOf(token)
    // Verification keys come only from configuration, chosen by `kid` from our own allowlist; a `jku`,
    // `x5u` or embedded `jwk` in the token header is never followed (JWT BCP §3.10).
    const verifier = kid != null ? this.#verifiers.get(kid) : undefined
    if (verifier == null) throw Errors.accessTokenInvalid()
    try {
      return verifier(token)
    } catch (err) {
      const expired = FrameworkCodes.JWT_EXPIRED.has(String((err as { code?: unknown }).code))
      throw expired ? Errors.accessTokenExpired() : Errors.accessTokenInvalid()
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: AccessTokens
  }
}

export default fp(async (app) => {
  const { jwtKeys, JWT_ISSUER, JWT_AUDIENCE, ACCESS_TOKEN_TTL_SECONDS, JWT_CLOCK_SKEW_SECONDS } = app.config
  const verifyOptions = {
    // One algorithm: `none` and RS/HS confusion are refused before any key is used.
    algorithms: ['HS256'] as Algorithm[],
    allowedIss: JWT_ISSUER,
    allowedAud: JWT_AUDIENCE,
    // Explicit typing: a refresh token, an ID token or any other JWT signed with the key is not an access token.
    checkTyp: ACCESS_TOKEN_TYPE,
    requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud'],
    clockTolerance: JWT_CLOCK_SKEW_SECONDS * 1000
  }
  // Signing (and app.jwt.decode) through @fastify/jwt, whose signer is built once from these options.
  await app.register(fastifyJwt, {
    secret: jwtKeys.current.key,
    decode: { complete: true },
    sign: {
      algorithm: 'HS256',
      kid: jwtKeys.current.kid,
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS, // seconds (a number) for @fastify/jwt
      typ: ACCESS_TOKEN_TYPE
    },
    verify: verifyOptions
  } as unknown as Parameters<typeof fastifyJwt>[1])
  // Verification does not go through request.jwtVerify(): with a key chosen per token (our kid allowlist), @fastify/jwt
  // builds a new fast-jwt verifier for every request (its cache holds string keys only) and decodes each token twice;
  // that was the largest single item of `me`'s CPU profile. One verifier per accepted key, built here, instead.
  const verifiers = new Map<string, TokenVerifier>()
  const subjectVerifiers = new Map<string, TokenVerifier>()
  const { allowedAud: _api, ...anyAudience } = verifyOptions
  for (const [kid, key] of jwtKeys.accepted) {
    verifiers.set(kid, createVerifier({ ...verifyOptions, key }) as TokenVerifier)
    subjectVerifiers.set(kid, createVerifier({ ...anyAudience, key }) as TokenVerifier)
  }
  // Service tokens: the same key and type, `aud` in the payload (a service client), at most 5 minutes.
  const serviceSigner = createSigner({
    key: jwtKeys.current.key, algorithm: 'HS256', kid: jwtKeys.current.kid, iss: JWT_ISSUER, header: { alg: 'HS256', typ: ACCESS_TOKEN_TYPE }, expiresIn: SERVICE_TOKEN_TTL_SECONDS * 1000
  })
  app.decorate('accessTokens', new AccessTokens((payload) => app.jwt.sign(payload), ACCESS_TOKEN_TTL_SECONDS, verifiers, {
    sign: (payload) => serviceSigner(payload as Record<string, unknown>), verifiers: subjectVerifiers, apiAudience: JWT_AUDIENCE
  }))
}, { name: 'access-tokens', dependencies: ['config'] })
