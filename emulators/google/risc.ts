import { RiscEventTypes } from '../../src/google/risc/risc-events.ts'
import type { RiscEventName } from '../../src/google/risc/risc-events.ts'
import { generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto'

// Cross-Account Protection (RISC) as Google runs it: a discovery document, the keys that sign Security Event
// Tokens, the management API (stream:update / stream:verify, authorised by a service account's self-signed JWT),
// and push delivery to the registered receiver, retried while it fails (a bounded number of times, like Google).

export const RISC_ISSUER = 'https://accounts.google.com/'
export const RISC_MANAGEMENT_AUDIENCE = 'https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService'
export const PUSH_DELIVERY = 'https://schemas.openid.net/secevent/risc/delivery-method/push'
// The event-type URIs are the receiver's own table: the emulator sends exactly what the product expects.
export const RISC_EVENTS = RiscEventTypes
export type { RiscEventName }

export interface Stream {
  url: string
  eventsRequested: string[]
}

export interface Delivery {
  jti: string
  events: string[]
  aud: string
  attempts: number
  /** Last HTTP status, or the network error's message. */
  last?: number | string
  state: 'pending' | 'delivered' | 'rejected' | 'dropped'
}

export interface RiscOptions {
  /** Waits before each retry of a failed delivery; its length bounds the tries (Google also gives up). */
  retryDelaysMs?: number[]
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

export class RiscTransmitter {
  stream: Stream | undefined
  readonly deliveries: Delivery[] = []
  #signing: { kid: string, privateKey: KeyObject, publicKey: KeyObject }
  // Published beside the signing key after a rotation, as Google keeps old keys published for a while.
  #previous: Array<{ kid: string, publicKey: KeyObject }> = []
  readonly #serviceAccount: { keyId: string, email: string, privateKey: KeyObject, publicKey: KeyObject }
  readonly #retryDelaysMs: number[]
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #now: () => number

  constructor (now: () => number, options: RiscOptions = {}) {
    this.#now = now
    this.#retryDelaysMs = options.retryDelaysMs ?? [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000]
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.#signing = { kid: randomBytes(20).toString('hex'), privateKey, publicKey }
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.#serviceAccount = { keyId: randomBytes(20).toString('hex'), email: 'risc-admin@inboxgate-emulator.iam.gserviceaccount.com', ...sa }
  }

  jwks (): { keys: Record<string, string>[] } {
    return {
      keys: [...this.#previous, this.#signing].map(k => {
        const { n = '', e = '' } = k.publicKey.export({ format: 'jwk' })
        return { kty: 'RSA', alg: 'RS256', use: 'sig', kid: k.kid, n, e }
      })
    }
  }

  /** A new key signs from now on; the old one stays published. Returns the new kid. */
  rotate (): string {
    this.#previous.push({ kid: this.#signing.kid, publicKey: this.#signing.publicKey })
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.#signing = { kid: randomBytes(20).toString('hex'), privateKey, publicKey }
    return this.#signing.kid
  }

  /** The JSON key of a service account with the RISC Configuration Admin role, as the Cloud console hands it out. */
  serviceAccountKey (baseUrl: string): Record<string, string> {
    return {
      type: 'service_account',
      project_id: 'inboxgate-emulator',
      private_key_id: this.#serviceAccount.keyId,
      private_key: this.#serviceAccount.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: this.#serviceAccount.email,
      client_id: '100000000000000000999',
      token_uri: `${baseUrl}/token`
    }
  }

  /** Checks the self-signed JWT of the management API: our service account's key, its email, RISC's audience, not expired. */
  authenticate (authorization: string | undefined): boolean {
    const jwt = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1]
    if (jwt == null) return false
    const [h = '', p = '', s = ''] = jwt.split('.')
    try {
      const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
      const sa = this.#serviceAccount
      if (header.alg !== 'RS256' || header.kid !== sa.keyId) return false
      if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), sa.publicKey, Buffer.from(s, 'base64url'))) return false
      const now = Math.floor(this.#now() / 1000)
      return claims.iss === sa.email && claims.sub === sa.email && claims.aud === RISC_MANAGEMENT_AUDIENCE &&
        typeof claims.exp === 'number' && claims.exp > now && typeof claims.iat === 'number' && claims.iat <= now + 300
    } catch {
      return false
    }
  }

  /** A Security Event Token as Google signs it: no exp, a fresh jti. */
  sign (events: Record<string, Record<string, unknown>>, aud: string, overrides: Record<string, unknown> = {}): string {
    const claims = { iss: RISC_ISSUER, aud, iat: Math.floor(this.#now() / 1000), jti: randomUUID().replaceAll('-', ''), events, ...overrides }
    const head = `${b64json({ alg: 'RS256', kid: this.#signing.kid, typ: 'secevent+jwt' })}.${b64json(claims)}`
    return `${head}.${sign('RSA-SHA256', Buffer.from(head), this.#signing.privateKey).toString('base64url')}`
  }

  /** Sends an event to the registered receiver (if any asked for this type), retrying in the background. */
  push (name: RiscEventName, subject: Record<string, unknown>, aud: string, extra: Record<string, unknown> = {}): Delivery | undefined {
    const type = RISC_EVENTS[name]
    const stream = this.stream
    if (stream == null || (name !== 'verification' && !stream.eventsRequested.includes(type))) return undefined
    const set = this.sign({ [type]: { subject, ...extra } }, aud)
    const jti = JSON.parse(Buffer.from(set.split('.')[1]!, 'base64url').toString()).jti as string
    const delivery: Delivery = { jti, events: [type], aud, attempts: 0, state: 'pending' }
    this.deliveries.push(delivery)
    void this.#attempt(stream.url, set, delivery)
    return delivery
  }

  async #attempt (url: string, set: string, delivery: Delivery): Promise<void> {
    delivery.attempts++
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', accept: 'application/json' }, body: set, signal: AbortSignal.timeout(10_000) })
      delivery.last = res.status
      await res.arrayBuffer().catch(() => {})
      if (res.status === 202 || res.status === 200) { delivery.state = 'delivered'; return }
      // A 400 is the receiver's verdict on the token: sending it again would not change it.
      if (res.status === 400) { delivery.state = 'rejected'; return }
    } catch (err) {
      delivery.last = (err as Error).message
    }
    const wait = this.#retryDelaysMs[delivery.attempts - 1]
    if (wait == null) { delivery.state = 'dropped'; return }
    const timer = setTimeout(() => { this.#timers.delete(timer); void this.#attempt(url, set, delivery) }, wait)
    this.#timers.add(timer)
  }

  /** Deliveries not finished yet (the tests wait for them). */
  get pending (): number {
    return this.deliveries.filter(d => d.state === 'pending').length
  }

  close (): void {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }
}
