import fastifyJwt from '@fastify/jwt'
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

export class AccessTokens {
  readonly #sign: (payload: object, options: object) => string
  readonly #ttlSeconds: number

  constructor (sign: (payload: object, options: object) => string, ttlSeconds: number) {
    this.#sign = sign
    this.#ttlSeconds = ttlSeconds
  }

  sign (user: { id: string, email: string, name: string | null }, sessionId: string, now = new Date(), authTime = now): SignedAccessToken {
    const iat = Math.floor(now.getTime() / 1000)
    const claims = { email: user.email, name: user.name, sid: sessionId, auth_time: Math.floor(authTime.getTime() / 1000), iat }
    const token = this.#sign(claims, { sub: user.id })
    return { token, expiresAt: new Date((iat + this.#ttlSeconds) * 1000) }
  }

  /** Verifies `Authorization: Bearer …`; any failure is UNAUTHENTICATED, with a hint when it merely expired. */
  async verify (request: FastifyRequest): Promise<AccessClaims> {
    const header = request.headers.authorization
    if (header == null || !/^Bearer [A-Za-z0-9._~+/=-]+$/.test(header)) throw Errors.authenticationRequired()
    try {
      return await request.jwtVerify<AccessClaims>()
    } catch (err) {
      const expired = FrameworkCodes.JWT_EXPIRED.has(String((err as { code?: unknown }).code))
      throw expired ? Errors.accessTokenExpired() : Errors.accessTokenInvalid()
    }
  }

  /** Verifies a token handed over as a value (RFC 8693's `subject_token`), with every check `verify` makes. */
  async verifyValue (request: FastifyRequest, token: string): Promise<AccessClaims> {
    if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) throw Errors.accessTokenInvalid()
    try {
      // Only the token's source changes: the registered verify options (algorithms, iss, aud, typ) are merged in.
      return await request.jwtVerify<AccessClaims>({ verify: { extractToken: () => token } } as never)
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
  await app.register(fastifyJwt, {
    secret: {
      private: jwtKeys.current.key,
      // Verification keys come only from configuration, chosen by `kid` from our own allowlist; a `jku`,
      // `x5u` or embedded `jwk` in the token header is never followed (JWT BCP §3.10; fast-jwt ignores them).
      public: async (_request: unknown, token: { header?: { kid?: unknown } }) => {
        const kid = token.header?.kid
        const key = typeof kid === 'string' ? jwtKeys.accepted.get(kid) : undefined
        if (key == null) throw Errors.accessTokenInvalid()
        return key
      }
    },
    decode: { complete: true },
    sign: {
      algorithm: 'HS256',
      kid: jwtKeys.current.kid,
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS, // seconds (a number) for @fastify/jwt
      typ: ACCESS_TOKEN_TYPE
    },
    verify: {
      // One algorithm: `none` and RS/HS confusion are refused before any key is used.
      algorithms: ['HS256'],
      allowedIss: JWT_ISSUER,
      allowedAud: JWT_AUDIENCE,
      // Explicit typing: a refresh token, an ID token or any other JWT signed with the key is not an access token.
      checkTyp: ACCESS_TOKEN_TYPE,
      requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud'],
      clockTolerance: JWT_CLOCK_SKEW_SECONDS * 1000
    }
  } as unknown as Parameters<typeof fastifyJwt>[1])
  app.decorate('accessTokens', new AccessTokens((payload, options) => app.jwt.sign(payload, options), ACCESS_TOKEN_TTL_SECONDS))
}, { name: 'access-tokens', dependencies: ['config'] })
