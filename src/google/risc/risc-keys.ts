import { createPublicKey } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import type { Clock } from '../../clock.ts'

/** Google's RISC discovery document, as far as the receiver needs it. */
export interface RiscConfiguration {
  issuer: string
  jwks_uri: string
}

/** Google's discovery document or keys could not be fetched: answer 5xx so that Google delivers again later. */
export class RiscKeysUnavailableError extends Error {
  override name = 'RiscKeysUnavailableError'
}

const DEFAULT_MAX_AGE_S = 300
// A flood of tokens naming made-up kids must not turn into a flood of requests to Google.
const UNKNOWN_KID_REFETCH_COOLDOWN_MS = 30_000

/** Seconds from `Cache-Control: max-age=N` (no-store / no-cache / none: 0, i.e. refetch when next needed). */
export function maxAgeOf (cacheControl: string | null): number {
  if (cacheControl == null) return DEFAULT_MAX_AGE_S
  if (/(^|,)\s*(no-store|no-cache)\b/i.test(cacheControl)) return 0
  const m = /(^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl)
  return m == null ? DEFAULT_MAX_AGE_S : Number(m[2])
}

interface Cached<T> { value: T, expiresAt: number }

/**
 * The RISC configuration (`/.well-known/risc-configuration`) and the keys of its `jwks_uri`, cached as long as
 * Google's Cache-Control allows. A token naming a kid we do not hold refetches the keys (Google rotates them),
 * at most once per cooldown. Concurrent deliveries share one fetch.
 */
export class RiscKeys {
  readonly #configurationUrl: string
  readonly #timeoutMs: number
  readonly #clock: Clock
  #configuration: Cached<RiscConfiguration> | undefined
  #keys: Cached<Map<string, string>> | undefined
  #lastUnknownKidRefetch = -Infinity
  #inflight: Promise<Cached<Map<string, string>>> | undefined

  constructor (opts: { baseUrl: string, timeoutMs: number, clock: Clock }) {
    this.#configurationUrl = new URL('/.well-known/risc-configuration', opts.baseUrl).toString()
    this.#timeoutMs = opts.timeoutMs
    this.#clock = opts.clock
  }

  async configuration (): Promise<RiscConfiguration> {
    if (this.#configuration != null && this.#configuration.expiresAt > this.#now()) return this.#configuration.value
    const { body, maxAge } = await this.#fetchJson(this.#configurationUrl)
    const doc = body as Partial<RiscConfiguration>
    if (typeof doc.issuer !== 'string' || typeof doc.jwks_uri !== 'string') throw new RiscKeysUnavailableError('RISC configuration without issuer or jwks_uri')
    this.#configuration = { value: { issuer: doc.issuer, jwks_uri: doc.jwks_uri }, expiresAt: this.#now() + maxAge * 1000 }
    return this.#configuration.value
  }

  /** The PEM public key for `kid`; undefined when Google does not publish it (after one refetch). */
  async key (kid: string): Promise<string | undefined> {
    const cached = this.#keys != null && this.#keys.expiresAt > this.#now() ? this.#keys : undefined
    let keys = cached ?? await this.#refetch()
    if (!keys.value.has(kid) && cached != null && this.#now() - this.#lastUnknownKidRefetch >= UNKNOWN_KID_REFETCH_COOLDOWN_MS) {
      this.#lastUnknownKidRefetch = this.#now()
      keys = await this.#refetch()
    }
    return keys.value.get(kid)
  }

  #refetch (): Promise<Cached<Map<string, string>>> {
    this.#inflight ??= this.#fetchKeys().finally(() => { this.#inflight = undefined })
    return this.#inflight
  }

  async #fetchKeys (): Promise<Cached<Map<string, string>>> {
    const { jwks_uri: uri } = await this.configuration()
    const { body, maxAge } = await this.#fetchJson(uri)
    const keys = new Map<string, string>()
    for (const jwk of (body as { keys?: unknown }).keys instanceof Array ? (body as { keys: JsonWebKey[] }).keys : []) {
      // Only RSA signing keys: RS256 is the one algorithm accepted, so no other key type can ever be used.
      if (jwk.kty !== 'RSA' || typeof jwk.kid !== 'string' || (jwk.use != null && jwk.use !== 'sig')) continue
      try {
        keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString())
      } catch {}
    }
    this.#keys = { value: keys, expiresAt: this.#now() + maxAge * 1000 }
    return this.#keys
  }

  async #fetchJson (url: string): Promise<{ body: unknown, maxAge: number }> {
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs), headers: { accept: 'application/json' } })
    } catch (err) {
      throw new RiscKeysUnavailableError(`GET ${url} failed: ${(err as Error).message}`)
    }
    if (!res.ok) throw new RiscKeysUnavailableError(`GET ${url} answered ${res.status}`)
    try {
      return { body: await res.json(), maxAge: maxAgeOf(res.headers.get('cache-control')) }
    } catch {
      throw new RiscKeysUnavailableError(`GET ${url} answered something other than JSON`)
    }
  }

  #now (): number {
    return this.#clock.now().getTime()
  }
}
