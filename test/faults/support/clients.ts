import { startGoogleEmulator } from '../../../emulators/google/app.ts'
import type { RunningGoogleEmulator } from '../../../emulators/google/app.ts'
import type { Test } from 'tap'
import { GMAIL_READONLY, IOS, WEB } from '../../gmail/helpers.ts'
import { gqlHttp } from './harness.ts'
import type { HttpResult } from './harness.ts'
import { ConnectGmailDocument, RefreshDocument, SignUpDocument } from '../../support/generated/graphql.ts'
import type { ConnectGmailMutation, RefreshMutation } from '../../support/generated/graphql.ts'

// What the apps do against a server process in the fault tests: sign up, refresh, connect Gmail.

// The operations are the typed documents of schema/operations/ (test/support/generated/), sent as their text.

/** The Google emulator in this process, with the web and iOS clients the server is configured with. */
export async function googleEmulator (t: Test, accessTokenTtlSeconds?: number): Promise<RunningGoogleEmulator> {
  const google = await startGoogleEmulator({ clients: [WEB, IOS], users: [], ...(accessTokenTtlSeconds != null ? { accessTokenTtlSeconds } : {}) })
  t.teardown(() => google.close())
  return google
}

/** The server's Google settings for that emulator. */
export const googleEnv = (google: RunningGoogleEmulator): Record<string, string> => ({
  GOOGLE_CLIENT_ID: WEB.id,
  GOOGLE_CLIENT_SECRET: WEB.secret,
  GOOGLE_IOS_CLIENT_IDS: IOS.id,
  GOOGLE_API_BASE_URL: google.baseUrl
})

export interface AppUser {
  id: string
  email: string
  sessionId: string
  accessToken: string
  /** The refresh token the app holds (the last one it received). */
  refreshToken: string
  googleEmail: string
}

let counter = 0

/**
 * A user as the iOS app creates one: sign up (NATIVE), then, given the Google emulator, connect Gmail with a Google
 * account of its own (a Google account can be connected to one user only).
 */
export async function appUser (origin: string, label: string, google?: RunningGoogleEmulator): Promise<AppUser> {
  const n = counter++
  const email = `${label}-${n}-${Date.now()}@example.com`
  const up = await gqlHttp(origin, SignUpDocument, { input: { email, password: 'correct horse battery staple', client: 'NATIVE' } })
  const s = up.body?.data?.signUp
  if (s?.refreshToken == null) throw new Error(`signUp failed: ${JSON.stringify(up)}`)
  const googleEmail = `${label}-${n}-${Date.now()}@gmail.example`
  const user: AppUser = { id: s.user.id, email, sessionId: s.sessionId, accessToken: s.accessToken, refreshToken: s.refreshToken, googleEmail }
  if (google != null) {
    google.state.upsertUser({ email: googleEmail })
    const res = await connectGmail(origin, google, user)
    if (res.body?.data?.connectGmail?.status?.state !== 'ACTIVE') throw new Error(`connectGmail failed: ${JSON.stringify(res)}`)
  }
  return user
}

/** connectGmail with the tokens the iOS app gets from Google Sign-In. */
export async function connectGmail (origin: string, google: RunningGoogleEmulator, user: AppUser, timeoutMs?: number): Promise<HttpResult<ConnectGmailMutation>> {
  const g = google.state.nativeSignIn({ clientId: IOS.id, user: user.googleEmail, scopes: [GMAIL_READONLY] })
  return await gqlHttp(origin, ConnectGmailDocument, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, user.accessToken, timeoutMs)
}

/** Refreshes like the app: on success it keeps the new tokens; on any failure it keeps the token it had, to retry. */
export async function refresh (origin: string, user: AppUser, timeoutMs?: number): Promise<HttpResult<RefreshMutation>> {
  const res = await gqlHttp(origin, RefreshDocument, { refreshToken: user.refreshToken, client: 'NATIVE' }, undefined, timeoutMs)
  const issued = res.body?.data?.refresh
  if (issued?.refreshToken != null) {
    user.refreshToken = issued.refreshToken
    user.accessToken = issued.accessToken
  }
  return res
}
