import { createHash, createPrivateKey } from 'node:crypto'
import fp from 'fastify-plugin'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import type { JWTPayload } from 'jose'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { Errors } from '../errors.ts'
import { KeysUnavailableError, RemoteKeySet } from '../jwks/remote-key-set.ts'

/*
 * Everything that talks to Apple (Sign in with Apple): its keys, ID tokens, server-to-server notifications, the
 * authorize URL and the token endpoint. Nothing here finds users or ends sessions (src/auth/apple/ and
 * src/apple-notifications/ do).
 *
 * Apple's keys are read through the one key cache (src/jwks/: cached; fetched again, at most every 30 s, when a token
 * names a kid it does not hold: Apple rotates keys without notice). Only RS256 is accepted.
 */

export const APPLE_ISSUER = 'https://appleid.apple.com'
/** Apple refuses client secrets valid for more than six months; ours live an hour and are made again. */
const CLIENT_SECRET_TTL_SECONDS = 3600
/** A notification older than this is refused (Apple retries for a while; a captured one must not replay forever). */
export const NOTIFICATION_MAX_AGE = '1d'

/** Apple answered, and the answer is not acceptable (a forged, expired or foreign token, a refused code). */
export class AppleRejectedError extends Error {
  override name = 'AppleRejectedError'
}

export interface AppleIdentity {
  sub: string
  email: string | null
  emailVerified: boolean
  /** The address is one of Apple's private-relay addresses (Hide My Email). */
  isPrivateEmail: boolean
}

/** Apple sends booleans in ID tokens and strings ("true") in notifications. */
const truthy = (v: unknown) => v === true || v === 'true'

/** What Apple means by `nonce`: the app gives Apple the SHA-256 (hex) of its nonce and keeps the nonce itself. */
export const appleNonceHash = (nonce: string) => createHash('sha256').update(nonce, 'utf8').digest('hex')

export class AppleGateway {
  readonly #config: Config
  readonly #clock: Clock
  readonly #keys: RemoteKeySet
  #secret: { value: string, until: number } | undefined

  constructor (config: Config, clock: Clock) {
    this.#config = config
    this.#clock = clock
    this.#keys = new RemoteKeySet({ url: new URL('/auth/keys', config.APPLE_API_BASE_URL), timeoutMs: config.GOOGLE_TIMEOUT_MS })
  }

  get clientIds (): string[] {
    return this.#config.APPLE_CLIENT_IDS
  }

  /** A JWS of Apple's (ID token or notification), checked: RS256 with Apple's keys, iss, aud ∈ audiences, exp. */
  async #verify (jws: string, audiences: string[], kind: 'id-token' | 'notification'): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(jws, this.#keys.getKey, {
        algorithms: ['RS256'],
        issuer: APPLE_ISSUER,
        audience: audiences,
        // ID tokens expire; notifications carry no `exp`, so their age is bounded here (and their jti is kept).
        ...(kind === 'id-token' ? { requiredClaims: ['sub', 'iat', 'exp'] } : { requiredClaims: ['iat', 'jti'], maxTokenAge: NOTIFICATION_MAX_AGE }),
        clockTolerance: this.#config.JWT_CLOCK_SKEW_SECONDS,
        currentDate: this.#clock.now()
      })
      return payload
    } catch (err) {
      // Apple unreachable (timeout, network, a 5xx for its keys) is not the token's fault: retry later.
      if (err instanceof KeysUnavailableError || !(err instanceof joseErrors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') {
        throw Errors.appleUnavailable({}, { cause: err })
      }
      throw new AppleRejectedError(err.code)
    }
  }

  /**
   * An Apple ID token for one of `audiences` (default APPLE_CLIENT_IDS). With `nonce`, the token must carry its
   * SHA-256: the token was minted for the request this nonce started, not replayed from another.
   */
  async verifyIdToken (idToken: string, options: { nonce?: string | null | undefined, audiences?: string[] } = {}): Promise<AppleIdentity> {
    const payload = await this.#verify(idToken, options.audiences ?? this.clientIds, 'id-token')
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.exp !== 'number') throw new AppleRejectedError('claims')
    if (options.nonce != null && payload.nonce !== appleNonceHash(options.nonce)) throw new AppleRejectedError('nonce')
    const email = typeof payload.email === 'string' ? payload.email.trim().toLowerCase() : null
    return { sub: payload.sub, email, emailVerified: truthy(payload.email_verified), isPrivateEmail: truthy(payload.is_private_email) }
  }

  /** A server-to-server notification's `payload`: its `events` claim (a JSON string) parsed. */
  async verifyNotification (payload: string): Promise<{ jti: string, event: { type: string, sub: string, eventTime: Date | null, email: string | null, isPrivateEmail: boolean } }> {
    const claims = await this.#verify(payload, this.clientIds, 'notification')
    let events: Record<string, unknown>
    try {
      events = typeof claims.events === 'string' ? JSON.parse(claims.events) as Record<string, unknown> : claims.events as Record<string, unknown>
    } catch {
      throw new AppleRejectedError('events')
    }
    if (events == null || typeof events !== 'object' || typeof events.type !== 'string' || typeof events.sub !== 'string') throw new AppleRejectedError('events')
    // event_time is in milliseconds since the epoch (not seconds, unlike every JWT date).
    const ms = Number(events.event_time)
    return {
      jti: String(claims.jti),
      event: {
        type: events.type,
        sub: events.sub,
        eventTime: Number.isFinite(ms) && ms > 0 ? new Date(ms) : null,
        email: typeof events.email === 'string' ? events.email : null,
        isPrivateEmail: truthy(events.is_private_email)
      }
    }
  }

  /** The web flow can run: a Services ID and the developer key that signs its client secret. */
  get webConfigured (): boolean {
    const c = this.#config
    return c.APPLE_WEB_CLIENT_ID != null && c.APPLE_TEAM_ID != null && c.APPLE_KEY_ID != null && c.APPLE_PRIVATE_KEY != null
  }

  authorizationUrl (o: { state: string, nonce: string }): string {
    const url = new URL('/auth/authorize', this.#config.APPLE_API_BASE_URL)
    url.search = new URLSearchParams({
      client_id: this.#config.APPLE_WEB_CLIENT_ID ?? '',
      redirect_uri: this.#config.APPLE_REDIRECT_URI,
      response_type: 'code',
      // Asking for name or email makes Apple answer with a POST (form_post), never in a URL.
      response_mode: 'form_post',
      scope: 'name email',
      state: o.state,
      nonce: appleNonceHash(o.nonce)
    }).toString()
    return url.href
  }

  /** The client secret: an ES256 JWT (iss team, sub Services ID, aud Apple) signed with the developer key. */
  async #clientSecret (): Promise<string> {
    const now = this.#clock.now().getTime()
    if (this.#secret != null && this.#secret.until > now + 60_000) return this.#secret.value
    const c = this.#config
    const iat = Math.floor(now / 1000)
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: c.APPLE_KEY_ID! })
      .setIssuer(c.APPLE_TEAM_ID!)
      .setSubject(c.APPLE_WEB_CLIENT_ID!)
      .setAudience(APPLE_ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(iat + CLIENT_SECRET_TTL_SECONDS)
      .sign(createPrivateKey(c.APPLE_PRIVATE_KEY!))
    this.#secret = { value, until: (iat + CLIENT_SECRET_TTL_SECONDS) * 1000 }
    return value
  }

  /** Spends the web flow's code at Apple's token endpoint; its ID token is what identifies the user. */
  async exchangeCode (code: string): Promise<{ idToken: string }> {
    const c = this.#config
    let res: Response
    try {
      res = await fetch(new URL('/auth/token', c.APPLE_API_BASE_URL), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: c.APPLE_REDIRECT_URI, client_id: c.APPLE_WEB_CLIENT_ID!, client_secret: await this.#clientSecret() }),
        signal: AbortSignal.timeout(c.GOOGLE_TIMEOUT_MS)
      })
    } catch (err) {
      throw Errors.appleUnavailable({}, { cause: err })
    }
    if (res.status >= 500) throw Errors.appleUnavailable()
    const body = await res.json().catch(() => null) as { id_token?: unknown } | null
    if (!res.ok || typeof body?.id_token !== 'string') throw new AppleRejectedError(`token endpoint ${res.status}`)
    return { idToken: body.id_token }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when APPLE_CLIENT_IDS is unset: everything Apple answers APPLE_NOT_CONFIGURED. */
    appleGateway: AppleGateway | null
  }
}

export default fp(async (app) => {
  app.decorate('appleGateway', app.config.APPLE_CLIENT_IDS.length > 0 ? new AppleGateway(app.config, app.clock) : null)
}, { name: 'apple', dependencies: ['config'] })
