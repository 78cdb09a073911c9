import { generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import { selfSignedCertificate } from './certificate.ts'
import type { EmulatorUser } from './directory.ts'
import { DAY, invalidRequest, ISSUER, OAuthError, SECOND, sha256, USERINFO_EMAIL, USERINFO_PROFILE } from './oauth.ts'

// Signing keys, the ID tokens they sign, and the two certs endpoints that publish them.

const ID_TOKEN_TTL_SECONDS = 3600

interface SigningKey {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  certificate: string
}

export interface IdTokenInput {
  user: EmulatorUser
  aud: string
  azp: string
  scopes: string[]
  nonce?: string
  accessToken?: string
  /**
   * Tests only: claims set over Google's (e.g. a future `iat`, a foreign `azp`); `null` leaves a claim out.
   * Still signed with the current key, so only the claims checks can tell it apart.
   */
  claims?: Record<string, unknown>
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

export class SigningKeys {
  /** The last one signs. */
  private readonly keys: SigningKey[] = []
  private readonly now: () => number

  constructor (now: () => number) {
    this.now = now
  }

  /** Claims follow the granted scopes, as Google's: no email without the email scope. */
  idToken (o: IdTokenInput): string {
    const iat = Math.floor(this.now() / SECOND)
    const email = o.scopes.includes(USERINFO_EMAIL)
    const profile = o.scopes.includes(USERINFO_PROFILE)
    const claims = {
      iss: ISSUER,
      azp: o.azp,
      aud: o.aud,
      sub: o.user.sub,
      ...(email && o.user.hd ? { hd: o.user.hd } : {}),
      ...(email ? { email: o.user.email, email_verified: o.user.emailVerified } : {}),
      ...(o.accessToken ? { at_hash: sha256(o.accessToken).subarray(0, 16).toString('base64url') } : {}),
      ...(o.nonce ? { nonce: o.nonce } : {}),
      ...(profile ? { name: o.user.name, picture: o.user.picture, given_name: o.user.givenName, family_name: o.user.familyName } : {}),
      iat,
      exp: iat + ID_TOKEN_TTL_SECONDS
    }
    const overridden: Record<string, unknown> = { ...claims, ...o.claims }
    for (const [k, v] of Object.entries(overridden)) if (v === null) Reflect.deleteProperty(overridden, k)
    const key = this.keys.at(-1)
    if (!key) throw new Error('no signing key')
    const signed = `${b64json({ alg: 'RS256', kid: key.kid, typ: 'JWT' })}.${b64json(overridden)}`
    return `${signed}.${sign('RSA-SHA256', Buffer.from(signed), key.privateKey).toString('base64url')}`
  }

  /** Any claims signed as Google signs its ID tokens (Pub/Sub's push OIDC tokens are signed by the same keys). */
  sign (claims: Record<string, unknown>): string {
    const key = this.keys.at(-1)
    if (!key) throw new Error('no signing key')
    const signed = `${b64json({ alg: 'RS256', kid: key.kid, typ: 'JWT' })}.${b64json({ iss: ISSUER, ...claims })}`
    return `${signed}.${sign('RSA-SHA256', Buffer.from(signed), key.privateKey).toString('base64url')}`
  }

  /** tokeninfo?id_token=: Google checks the signature and expiry and answers every value as a string. */
  idTokenInfo (idToken: string): Record<string, string> {
    const fail = () => new OAuthError(400, 'invalid_token', 'Invalid Value')
    const [header = '', payload = '', signature = ''] = idToken.split('.')
    let envelope: { kid?: string, alg?: string, typ?: string }
    let claims: Record<string, unknown>
    try {
      envelope = JSON.parse(Buffer.from(header, 'base64url').toString())
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    } catch {
      throw fail()
    }
    const key = this.keys.find(k => k.kid === envelope.kid)
    if (!key || !verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key.publicKey, Buffer.from(signature, 'base64url'))) throw fail()
    if (Number(claims.exp) * SECOND <= this.now()) throw fail()
    return Object.fromEntries([...Object.entries(claims), ['alg', envelope.alg], ['kid', envelope.kid], ['typ', envelope.typ]].map(([k, v]) => [k, String(v)]))
  }

  /** Adds a key that signs from now on; older keys stay published until removed. Returns its kid. */
  rotate (): string {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const kid = randomBytes(20).toString('hex')
    const now = Date.now()
    const certificate = selfSignedCertificate(privateKey, publicKey, 'federated-signon.system.gserviceaccount.com', new Date(now - DAY), new Date(now + 365 * DAY))
    this.keys.push({ kid, privateKey, publicKey, certificate })
    return kid
  }

  remove (kid: string): boolean {
    const index = this.keys.findIndex(k => k.kid === kid)
    if (index < 0) return false
    if (this.keys.length === 1) throw invalidRequest('Cannot remove the only signing key')
    this.keys.splice(index, 1)
    return true
  }

  get kids (): string[] {
    return this.keys.map(k => k.kid)
  }

  pemCertificates (): Record<string, string> {
    return Object.fromEntries(this.keys.map(k => [k.kid, k.certificate]))
  }

  jwks (): { keys: Record<string, string>[] } {
    return {
      keys: this.keys.map(k => {
        const { n = '', e = '' } = k.publicKey.export({ format: 'jwk' })
        return { kty: 'RSA', alg: 'RS256', use: 'sig', kid: k.kid, n, e }
      })
    }
  }
}
