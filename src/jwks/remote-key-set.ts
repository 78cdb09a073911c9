import { createRemoteJWKSet, customFetch, errors as joseErrors } from 'jose'
import type { CryptoKey, FlattenedJWSInput, JWSHeaderParameters } from 'jose'

/*
 * The one cache of a peer's published signing keys (a JWKS): Google's ID-token and Pub/Sub keys, Google's RISC keys,
 * Apple's keys. jose's createRemoteJWKSet fetches, caches and shares one fetch among concurrent callers; what it
 * does not do is done here: its cooldown counts from the last fetch of any kind, so a key rotated in just after a
 * fetch would be refused for the whole cooldown. Here a token naming a kid we do not hold refetches at once, and
 * then at most once per cooldown (junk tokens with made-up kids must not turn into a flood of requests to the peer).
 */

/**
 * The `kid` of a compact JWS's protected header, without verifying anything (it only picks the key to verify with);
 * undefined when it cannot be read (verification then refuses the token). On the access-token hot path: no split.
 */
export function kidOf (jws: string): string | undefined {
  const dot = jws.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const kid = (JSON.parse(Buffer.from(jws.slice(0, dot), 'base64url').toString('utf8')) as { kid?: unknown }).kid
    return typeof kid === 'string' ? kid : undefined
  } catch {
    return undefined
  }
}

/** The keys could not be fetched (network, timeout, not 200, not a key set): the peer is down, not the token bad. */
export class KeysUnavailableError extends Error {
  override name = 'KeysUnavailableError'
}

export interface RemoteKeySetOptions {
  url: URL
  timeoutMs: number
  /** How long fetched keys are used without asking again (Google publishes keys days before signing with them). */
  cacheMaxAgeMs?: number
  /** The least time between two refetches caused by unknown kids. */
  unknownKidCooldownMs?: number
  /** The clock the cooldown is measured on (tests inject theirs); jose's own cache age runs on the wall clock. */
  now?: () => number
}

const DEFAULT_CACHE_MAX_AGE_MS = 60 * 60_000
const DEFAULT_UNKNOWN_KID_COOLDOWN_MS = 30_000
/**
 * Keys are fetched about once an hour, so a longer wait than the peer's request timeout costs little; a short one
 * fails every request of a cold burst at once: Node's first fetch() in a process sets undici up (0.35 s on an idle
 * machine here, 1.6 s under load), and with a 1 s timeout 20 concurrent sign-ins on a cold cache all failed.
 */
const MIN_FETCH_TIMEOUT_MS = 5000

export class RemoteKeySet {
  /** The key set's URL (href). */
  readonly url: string
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>
  readonly #cooldownMs: number
  readonly #now: () => number
  #lastUnknownKidRefetch = Number.NEGATIVE_INFINITY

  constructor (o: RemoteKeySetOptions) {
    this.url = o.url.href
    this.#cooldownMs = o.unknownKidCooldownMs ?? DEFAULT_UNKNOWN_KID_COOLDOWN_MS
    this.#now = o.now ?? Date.now
    const url = this.url
    this.#jwks = createRemoteJWKSet(o.url, {
      timeoutDuration: Math.max(o.timeoutMs, MIN_FETCH_TIMEOUT_MS),
      cacheMaxAge: o.cacheMaxAgeMs ?? DEFAULT_CACHE_MAX_AGE_MS,
      // jose never refetches on an unknown kid by itself: getKey below decides, with its own cooldown.
      cooldownDuration: Number.POSITIVE_INFINITY,
      // Failures named with the URL and the status, for the operator's logs (jose's say "Expected 200 OK").
      [customFetch]: async (input: string | URL | Request, init?: RequestInit) => {
        let res: Response
        try {
          res = await fetch(input, init)
        } catch (err) {
          throw new KeysUnavailableError(`GET ${url} failed: ${(err as Error).message}`)
        }
        if (res.status !== 200) {
          await res.body?.cancel()
          throw new KeysUnavailableError(`GET ${url} answered HTTP ${res.status}`)
        }
        return res
      }
    })
  }

  /** For jose's jwtVerify: the key the header names. Throws KeysUnavailableError when the keys cannot be fetched. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    try {
      try {
        return await this.#jwks(header, token)
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || this.#now() - this.#lastUnknownKidRefetch < this.#cooldownMs) throw err
        this.#lastUnknownKidRefetch = this.#now()
        await this.#jwks.reload()
        return await this.#jwks(header, token)
      }
    } catch (err) {
      throw this.#translate(err)
    }
  }

  /** The key for `kid` and `alg`; undefined when the peer does not publish it (after one refetch, cooldown allowing). */
  async key (kid: string, alg: string): Promise<CryptoKey | undefined> {
    try {
      return await this.getKey({ kid, alg }, { payload: '', signature: '' })
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey) return undefined
      throw err
    }
  }

  /** Fetches the keys now (readiness: can the peer be reached?). The cache is refreshed as a side effect. */
  async reload (): Promise<void> {
    try {
      await this.#jwks.reload()
    } catch (err) {
      throw this.#translate(err)
    }
  }

  #translate (err: unknown): unknown {
    if (err instanceof KeysUnavailableError) return err
    // A timeout, a body that is not JSON or not a key set: the peer's fault, retry later.
    if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || (err instanceof joseErrors.JOSEError && err.code === 'ERR_JOSE_GENERIC') || !(err instanceof joseErrors.JOSEError)) {
      return new KeysUnavailableError(`GET ${this.url}: ${(err as Error).message}`, { cause: err })
    }
    return err
  }
}
