import type { ClientInput, UserInput } from './state.ts'

// The documented dev-mode defaults; the server's dev config points at these.

export const DEFAULT_WEB_CLIENT = {
  id: 'inboxgate-web.apps.googleusercontent.com',
  secret: 'emulator-web-secret',
  type: 'web',
  name: 'InboxGate (emulator)',
  redirectUris: ['http://127.0.0.1:4000/auth/google/callback', 'http://localhost:4000/auth/google/callback']
} satisfies ClientInput

// iOS clients are public: no secret, and the redirect is the reversed client id scheme.
export const DEFAULT_IOS_CLIENT = {
  id: 'inboxgate-ios.apps.googleusercontent.com',
  secret: null,
  type: 'ios',
  name: 'InboxGate iOS (emulator)',
  redirectUris: ['com.googleusercontent.apps.inboxgate-ios:/oauth2redirect']
} satisfies ClientInput

export const DEFAULT_USERS: UserInput[] = [
  { email: 'alice@example.com', name: 'Alice Liddell', givenName: 'Alice', familyName: 'Liddell', messagesTotal: 1342, threadsTotal: 871 },
  { email: 'bob@example.com', name: 'Bob Builder', givenName: 'Bob', familyName: 'Builder', messagesTotal: 12, threadsTotal: 9 },
  { email: 'carol@unverified.example', name: 'Carol Unverified', givenName: 'Carol', familyName: 'Unverified', emailVerified: false }
]
