import type { OAuth2Client } from 'google-auth-library'

/**
 * A token signed with a key we do not hold makes us refetch Google's certificates (Google publishes a new key
 * before signing with it, but our copy may predate it by up to its max-age), at most once per this interval:
 * otherwise junk tokens with made-up `kid`s would each cost a request to Google.
 */
export const UNKNOWN_KID_REFETCH_INTERVAL_MS = 60_000

type Certs = Record<string, string>

/** The `kid` of a JWT's header, or undefined when it cannot be read (verification then refuses the token). */
function kidOf (jwt: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString()) as { kid?: unknown }
    return typeof header.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

/**
 * Google's ID-token signing certificates, for the life of the process. google-auth-library keeps them for the
 * `max-age` of their `Cache-Control` (6 hours at Google) inside one OAuth2Client: so one long-lived client
 * verifies every token (a client per check fetched them on every sign-in: 100 sign-ins, 100 fetches; now 1).
 * Two things the library does not do, done here: sign-ins arriving while the certificates are being fetched
 * share that one fetch, and an unknown `kid` refetches (the library would fail with "No pem found for envelope"
 * until its cache expired, refusing every sign-in signed with a freshly rotated key for hours).
 */
export class SigningCerts {
  readonly #newClient: () => OAuth2Client
  #verifier: OAuth2Client
  #inFlight: Promise<Certs> | undefined
  #lastKidRefetch = Number.NEGATIVE_INFINITY

  constructor (newClient: () => OAuth2Client) {
    this.#newClient = newClient
    this.#verifier = newClient()
  }

  /** From the client's cache while fresh; else one fetch, however many checks wait for it. */
  async #current (): Promise<Certs> {
    if (this.#inFlight != null) return await this.#inFlight
    const fetching = this.#verifier.getFederatedSignonCertsAsync().then((r) => r.certs as Certs)
    this.#inFlight = fetching
    try {
      return await fetching
    } finally {
      if (this.#inFlight === fetching) this.#inFlight = undefined
    }
  }

  /** The certificates to check `jwt` with, and the client to check it with. */
  async for (jwt: string): Promise<{ verifier: OAuth2Client, certs: Certs }> {
    const kid = kidOf(jwt)
    let certs = await this.#current()
    if (kid != null && !Object.hasOwn(certs, kid) && Date.now() - this.#lastKidRefetch >= UNKNOWN_KID_REFETCH_INTERVAL_MS) {
      this.#lastKidRefetch = Date.now()
      // The library's cache cannot be emptied: a new client starts with none.
      this.#verifier = this.#newClient()
      this.#inFlight = undefined
      certs = await this.#current()
    }
    return { verifier: this.#verifier, certs }
  }
}
