import { createDecoder, createVerifier, TokenError } from 'fast-jwt'
import type { Clock } from '../../clock.ts'
import type { RiscKeys } from './risc-keys.ts'

/** RFC 8935 §2.4's error codes: the `err` of a 400 answer to a push delivery. */
export type RiscErrorCode = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed'

/** A Security Event Token that must not take effect, with what RFC 8935 says to answer. */
export class RiscRejection extends Error {
  override name = 'RiscRejection'
  readonly err: RiscErrorCode
  constructor (err: RiscErrorCode, description: string) {
    super(description)
    this.err = err
  }
}

/** A verified Security Event Token (RFC 8417), as far as the receiver reads it. */
export interface SecurityEventToken {
  jti: string
  iss: string
  aud: string | string[]
  /** Seconds since the epoch; required (RFC 8417 §2.2), within RISC_MAX_EVENT_AGE_SECONDS, not in the future. */
  iat: number
  events: Record<string, Record<string, unknown>>
}

const decode = createDecoder({ complete: true, checkTyp: undefined })

/** How far ahead of our clock a SET's `iat` may be (clock skew between Google and us). */
const MAX_FUTURE_SKEW_SECONDS = 300

export interface RiscFreshness {
  clock: Clock
  /** RISC_MAX_EVENT_AGE_SECONDS: an older SET is refused (a replay from a leak, or a retry too late to matter). */
  maxEventAgeSeconds: number
}

/**
 * Checks a pushed SET the way Google's Cross-Account Protection guide asks: RS256 with a key Google's RISC
 * configuration publishes (by `kid`), `iss` = that configuration's issuer, `aud` = one of our client ids. Google
 * sends no `exp`, so none is required. Nothing else from the token is trusted: `alg` is allowlisted, `jku`/`x5u`/
 * `jwk` headers are ignored (keys come from the configuration only).
 */
export class RiscVerifier {
  readonly #keys: RiscKeys
  readonly #audiences: ReadonlySet<string>
  readonly #freshness: RiscFreshness
  // One fast-jwt verifier per key: built once, its key fixed, RS256 only.
  readonly #verifiers = new Map<string, (token: string) => unknown>()

  constructor (keys: RiscKeys, audiences: string[], freshness: RiscFreshness) {
    this.#keys = keys
    this.#audiences = new Set(audiences)
    this.#freshness = freshness
  }

  /** Throws RiscRejection (answer 400) or RiscKeysUnavailableError (answer 503: Google retries). */
  async verify (token: string): Promise<SecurityEventToken> {
    let header: { alg?: unknown, kid?: unknown }
    try {
      header = (decode(token) as { header: { alg?: unknown, kid?: unknown } }).header
    } catch {
      throw new RiscRejection('invalid_request', 'The body is not a JWT')
    }
    if (header.alg !== 'RS256') throw new RiscRejection('invalid_request', 'Only RS256-signed tokens are accepted')
    if (typeof header.kid !== 'string' || header.kid === '') throw new RiscRejection('invalid_key', 'The token names no key (kid)')
    const { issuer } = await this.#keys.configuration()
    const pem = await this.#keys.key(header.kid)
    if (pem == null) throw new RiscRejection('invalid_key', 'The token is signed with a key Google does not publish')

    let claims: Record<string, unknown>
    try {
      claims = this.#verifierFor(header.kid, pem)(token) as Record<string, unknown>
    } catch (err) {
      if (err instanceof TokenError && err.code === TokenError.codes.invalidSignature) throw new RiscRejection('authentication_failed', 'The signature does not verify')
      throw new RiscRejection('invalid_request', 'The token is not valid')
    }
    if (claims.iss !== issuer) throw new RiscRejection('invalid_issuer', 'The issuer is not Google\'s RISC issuer')
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : []
    if (!aud.some((a) => typeof a === 'string' && this.#audiences.has(a))) throw new RiscRejection('invalid_audience', 'The audience is not one of this server\'s client ids')
    if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) throw new RiscRejection('invalid_request', 'The token has no jti')
    // Event order and freshness rest on iat (issue 21 item 6): without one a SET cannot be placed, so it is refused.
    // A far-future iat would make every real event of its family look stale: refused beyond a small skew.
    const iat = claims.iat
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new RiscRejection('invalid_request', 'The token has no iat')
    const now = this.#freshness.clock.now().getTime() / 1000
    if (iat < now - this.#freshness.maxEventAgeSeconds) throw new RiscRejection('invalid_request', 'The token is older than this receiver accepts (RISC_MAX_EVENT_AGE_SECONDS)')
    if (iat > now + MAX_FUTURE_SKEW_SECONDS) throw new RiscRejection('invalid_request', 'The token is issued in the future')
    const events = claims.events
    if (events == null || typeof events !== 'object' || Array.isArray(events) || Object.keys(events).length === 0 ||
      Object.values(events).some((e) => e == null || typeof e !== 'object' || Array.isArray(e))) {
      throw new RiscRejection('invalid_request', 'The token carries no events')
    }
    return claims as unknown as SecurityEventToken
  }

  #verifierFor (kid: string, pem: string): (token: string) => unknown {
    const key = `${kid}\n${pem}`
    let verifier = this.#verifiers.get(key)
    if (verifier == null) {
      // No exp check: Google's SETs carry none. The claims are checked above with RFC 8935's error codes.
      verifier = createVerifier({ key: pem, algorithms: ['RS256'], ignoreExpiration: true, cache: false })
      this.#verifiers.set(key, verifier)
    }
    return verifier
  }
}
