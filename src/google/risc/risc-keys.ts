import { KeyObject } from 'node:crypto'
import type { Clock } from '../../clock.ts'
import { KeysUnavailableError, RemoteKeySet } from '../../jwks/remote-key-set.ts'

/** Google's RISC discovery document, as far as the receiver needs it. */
export interface RiscConfiguration {
  issuer: string
  jwks_uri: string
}

/** Google's discovery document or keys could not be fetched: answer 5xx so that Google delivers again later. */
export class RiscKeysUnavailableError extends Error {
  override name = 'RiscKeysUnavailableError'
}

/** Google serves the discovery document with max-age=3600; its issuer and jwks_uri have never changed. */
const CONFIGURATION_MAX_AGE_MS = 60 * 60_000
// A flood of tokens naming made-up kids must not turn into a flood of requests to Google.
const UNKNOWN_KID_REFETCH_COOLDOWN_MS = 30_000

/**
 * The RISC configuration (`/.well-known/risc-configuration`) and the keys of its `jwks_uri`, through the one key
 * cache (src/jwks/): a token naming a kid we do not hold refetches the keys (Google rotates them), at most once per
 * cooldown; concurrent deliveries share one fetch.
 */
export class RiscKeys {
  readonly #configurationUrl: string
  readonly #timeoutMs: number
  readonly #clock: Clock
  #configuration: { value: RiscConfiguration, expiresAt: number } | undefined
  #keys: RemoteKeySet | undefined

  constructor (opts: { baseUrl: string, timeoutMs: number, clock: Clock }) {
    this.#configurationUrl = new URL('/.well-known/risc-configuration', opts.baseUrl).toString()
    this.#timeoutMs = opts.timeoutMs
    this.#clock = opts.clock
  }

  async configuration (): Promise<RiscConfiguration> {
    if (this.#configuration != null && this.#configuration.expiresAt > this.#now()) return this.#configuration.value
    const doc = await this.#fetchConfiguration()
    if (typeof doc.issuer !== 'string' || typeof doc.jwks_uri !== 'string') throw new RiscKeysUnavailableError('RISC configuration without issuer or jwks_uri')
    let jwksUri: URL
    try {
      jwksUri = new URL(doc.jwks_uri)
    } catch {
      throw new RiscKeysUnavailableError('RISC configuration with an invalid jwks_uri')
    }
    this.#configuration = { value: { issuer: doc.issuer, jwks_uri: jwksUri.href }, expiresAt: this.#now() + CONFIGURATION_MAX_AGE_MS }
    return this.#configuration.value
  }

  /** The PEM public key for `kid` (RS256 only); undefined when Google does not publish it (after one refetch). */
  async key (kid: string): Promise<string | undefined> {
    const { jwks_uri: uri } = await this.configuration()
    if (this.#keys?.url !== uri) {
      this.#keys = new RemoteKeySet({ url: new URL(uri), timeoutMs: this.#timeoutMs, unknownKidCooldownMs: UNKNOWN_KID_REFETCH_COOLDOWN_MS, now: () => this.#now() })
    }
    try {
      // Only RSA signing keys: RS256 is the one algorithm accepted, so no other key type can ever be used.
      const key = await this.#keys.key(kid, 'RS256')
      return key == null ? undefined : KeyObject.from(key).export({ type: 'spki', format: 'pem' }).toString()
    } catch (err) {
      if (err instanceof KeysUnavailableError) throw new RiscKeysUnavailableError(err.message)
      // A published key jose cannot import (malformed JWK): as if Google did not publish it.
      return undefined
    }
  }

  async #fetchConfiguration (): Promise<Partial<RiscConfiguration>> {
    const url = this.#configurationUrl
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs), headers: { accept: 'application/json' } })
    } catch (err) {
      throw new RiscKeysUnavailableError(`GET ${url} failed: ${(err as Error).message}`)
    }
    if (!res.ok) throw new RiscKeysUnavailableError(`GET ${url} answered ${res.status}`)
    try {
      return await res.json() as Partial<RiscConfiguration>
    } catch {
      throw new RiscKeysUnavailableError(`GET ${url} answered something other than JSON`)
    }
  }

  #now (): number {
    return this.#clock.now().getTime()
  }
}
