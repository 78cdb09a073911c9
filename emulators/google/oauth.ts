import { createHash, randomBytes } from 'node:crypto'

// What every part of the emulator shares: Google's issuer and basic scopes, the OAuth error shape, small helpers.

export const ISSUER = 'https://accounts.google.com'
export const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email'
export const USERINFO_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile'

export const SECOND = 1000
export const DAY = 86_400 * SECOND

// A Map, not an object: scopes come from the request, and `constructor` must not find Object's.
const SCOPE_ALIASES: ReadonlyMap<string, string> = new Map([['email', USERINFO_EMAIL], ['profile', USERINFO_PROFILE]])
// Google's granular consent screen never offers these as checkboxes: signing in always grants them.
export const SIGN_IN_SCOPES = new Set(['openid', USERINFO_EMAIL, USERINFO_PROFILE])

export const expandScopes = (scope: string | readonly string[] | undefined): string[] => {
  const list = typeof scope === 'string' ? scope.split(/[\s,]+/) : scope ?? []
  return [...new Set(list.filter(Boolean).map(s => SCOPE_ALIASES.get(s) ?? s))]
}

export class OAuthError extends Error {
  readonly status: number
  readonly error: string

  constructor (status: number, error: string, description: string) {
    super(description)
    this.status = status
    this.error = error
  }

  toJSON () {
    return { error: this.error, error_description: this.message }
  }
}

export const invalidGrant = (description: string) => new OAuthError(400, 'invalid_grant', description)
export const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description)
export const unknownClient = () => new OAuthError(401, 'invalid_client', 'The OAuth client was not found.')
export const REVOKED = 'Token has been expired or revoked.'

export const randomToken = (prefix: string, bytes: number) => prefix + randomBytes(bytes).toString('base64url')
export const sha256 = (value: string) => createHash('sha256').update(value).digest()
