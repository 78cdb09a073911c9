import { randomBytes } from 'node:crypto'
import type { ClientInput, UserInput } from '../../emulators/google/state.ts'
import type { GmailTokenBundle } from '../../src/vault/token-vault.ts'

/**
 * The Google clients, accounts and scopes every test uses: one home, one set of values (the emulator's own tests and
 * the app's tests see the same Alice). The emulator is seeded with these; the app under test is configured with them.
 */
export const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly'
export const USERINFO_EMAIL = 'https://www.googleapis.com/auth/userinfo.email'
export const USERINFO_PROFILE = 'https://www.googleapis.com/auth/userinfo.profile'
export const SCOPES = ['openid', 'email', 'profile', GMAIL_READONLY]
/** SCOPES as Google hands them back (short names expanded). */
export const EXPANDED = ['openid', USERINFO_EMAIL, USERINFO_PROFILE, GMAIL_READONLY]

export interface TestClient { id: string, secret: string | null, redirectUris: string[] }

/** Our web client; its redirect URI is the callback of the test app's PUBLIC_URL. */
export const WEB = {
  id: 'web.apps.googleusercontent.com',
  secret: 'web-secret',
  type: 'web',
  name: 'Test web app',
  redirectUris: ['http://localhost:4000/auth/google/callback']
} satisfies ClientInput & TestClient

/** Another web client of the same Google project (tokens minted for it must not pass as ours). */
export const OTHER_WEB = {
  id: 'other-web.apps.googleusercontent.com',
  secret: 'other-secret',
  type: 'web',
  redirectUris: ['http://127.0.0.1:5000/callback']
} satisfies ClientInput & TestClient

/** Our iOS client: public (no secret), as Google Sign-In on iOS uses it. */
export const IOS = {
  id: 'ios.apps.googleusercontent.com',
  secret: null,
  type: 'ios',
  redirectUris: ['com.googleusercontent.apps.ios:/oauth2redirect']
} satisfies ClientInput & TestClient

/** Somebody else's app: its tokens must never be accepted. */
export const FOREIGN_IOS = { id: 'foreign-ios.apps.googleusercontent.com', secret: null, type: 'ios', redirectUris: ['com.example.foreign:/cb'] } satisfies ClientInput & TestClient

export const ALICE = {
  sub: '100000000000000000001',
  email: 'alice@gmail.example',
  name: 'Alice Liddell',
  givenName: 'Alice',
  familyName: 'Liddell',
  messagesTotal: 42,
  threadsTotal: 7,
  historyId: '9876'
} satisfies UserInput

export const BOB = { sub: '100000000000000000002', email: 'bob@gmail.example', name: 'Bob' } satisfies UserInput

/** A Gmail grant as the vaults store it, with fresh random tokens (the vault tests' one sample). */
export function gmailBundle (overrides: Partial<GmailTokenBundle> = {}): GmailTokenBundle {
  const now = Date.now()
  return {
    version: 1,
    accessToken: `ya29.${randomBytes(24).toString('base64url')}`,
    refreshToken: `1//${randomBytes(24).toString('base64url')}`,
    expiryDate: now + 3_599_000,
    scope: [GMAIL_READONLY],
    clientId: 'web-client.apps.googleusercontent.com',
    googleSub: '1098765432109876543210',
    email: 'alice@example.com',
    obtainedAt: now,
    ...overrides
  }
}
