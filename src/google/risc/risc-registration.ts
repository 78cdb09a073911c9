import { readFile } from 'node:fs/promises'
import { createSigner } from 'fast-jwt'
import { randomToken } from '../../crypto/secrets.ts'
import { RiscEventTypes } from './risc-events.ts'

/** The fields of a service account's JSON key that registration uses (the rest is ignored). */
export interface ServiceAccountKey {
  client_email: string
  private_key: string
  private_key_id: string
}

const MANAGEMENT_AUDIENCE = 'https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService'
const PUSH = 'https://schemas.openid.net/secevent/risc/delivery-method/push'

export class RiscRegistrationError extends Error {
  override name = 'RiscRegistrationError'
}

export async function readServiceAccountKey (file: string): Promise<ServiceAccountKey> {
  let key: Partial<ServiceAccountKey>
  try {
    key = JSON.parse(await readFile(file, 'utf8')) as Partial<ServiceAccountKey>
  } catch (err) {
    throw new RiscRegistrationError(`GOOGLE_RISC_SERVICE_ACCOUNT_FILE: cannot read a JSON key from ${file} (${(err as Error).message})`)
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string' || typeof key.private_key_id !== 'string') {
    throw new RiscRegistrationError('GOOGLE_RISC_SERVICE_ACCOUNT_FILE: not a service account key (client_email, private_key, private_key_id)')
  }
  return key as ServiceAccountKey
}

/**
 * Registers `receiverUrl` for push delivery of every Cross-Account Protection event (RISC `stream:update`), then
 * asks for a verification event (`stream:verify`), authorised as Google's RISC guide describes: a JWT the
 * service account signs itself, for RISC's management audience (no OAuth token exchange).
 */
export async function registerRiscReceiver (opts: { key: ServiceAccountKey, receiverUrl: string, baseUrl?: string | undefined, timeoutMs?: number }): Promise<{ receiverUrl: string, eventsRequested: string[], verificationState: string }> {
  let url: URL
  try {
    url = new URL(opts.receiverUrl)
  } catch {
    throw new RiscRegistrationError(`not a URL: ${opts.receiverUrl}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RiscRegistrationError('the receiver URL must be http(s)')
  const base = (opts.baseUrl ?? 'https://risc.googleapis.com').replace(/\/+$/, '')
  const sign = createSigner({ algorithm: 'RS256', key: opts.key.private_key, kid: opts.key.private_key_id, expiresIn: 3600_000 })
  const bearer = sign({ iss: opts.key.client_email, sub: opts.key.client_email, aud: MANAGEMENT_AUDIENCE })
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000)
    }).catch((err: unknown) => { throw new RiscRegistrationError(`POST ${base}${path} failed: ${(err as Error).message}`) })
    if (!res.ok) throw new RiscRegistrationError(`POST ${base}${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`)
  }
  const eventsRequested = Object.values(RiscEventTypes).filter((t) => !t.endsWith('/verification'))
  await call('/v1beta/stream:update', { delivery: { delivery_method: PUSH, url: url.toString() }, events_requested: eventsRequested })
  const verificationState = randomToken(12)
  await call('/v1beta/stream:verify', { state: verificationState })
  return { receiverUrl: url.toString(), eventsRequested, verificationState }
}
