import { createHmac } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { randomToken, sameSecret } from '../crypto/secrets.ts'

/**
 * OWASP "Slow Down Online Guessing Attacks with Device Cookies": a browser or app that signed in to an account
 * before carries a token proving it, and its login attempts are counted against that token alone, not against
 * the address or the account a stranger may be hammering. The token is `nonce.HMAC(key, email|nonce)`: stateless,
 * bound to one account, worthless for another; the key is derived from the current JWT key (a key rotation only
 * makes devices unknown again). WEB clients keep it in an HttpOnly cookie, NATIVE clients in their keychain
 * (`AuthPayload.deviceToken`, sent back as `LoginInput.deviceToken`).
 */
export const DEVICE_COOKIE = '__Host-inboxgate-device'
const DEVICE_COOKIE_DAYS = 180

export class DeviceTokens {
  readonly #key: Buffer

  constructor (jwtKey: Buffer) {
    this.#key = createHmac('sha256', jwtKey).update('inboxgate device token v1').digest()
  }

  #mac (email: string, nonce: string): string {
    return createHmac('sha256', this.#key).update(`${email}|${nonce}`).digest('base64url')
  }

  issue (email: string): string {
    const nonce = randomToken(16)
    return `${nonce}.${this.#mac(email, nonce)}`
  }

  /** The token's nonce (its own limiter key) when it was issued for `email`; null otherwise. */
  verify (token: string | null | undefined, email: string): string | null {
    if (token == null || token.length > 128) return null
    const [nonce, mac, extra] = token.split('.')
    if (nonce == null || mac == null || extra !== undefined || nonce === '') return null
    return sameSecret(this.#mac(email, nonce), mac) ? nonce : null
  }
}

export function readDeviceCookie (request: FastifyRequest): string | undefined {
  return request.cookies[DEVICE_COOKIE]
}

export function setDeviceCookie (reply: FastifyReply, token: string, now: Date): void {
  reply.setCookie(DEVICE_COOKIE, token, {
    httpOnly: true, secure: true, sameSite: 'strict', path: '/', expires: new Date(now.getTime() + DEVICE_COOKIE_DAYS * 86_400_000)
  })
}
