import { createHash, randomBytes } from 'node:crypto'
import { OAuth2Client, type OAuth2ClientOptions } from 'google-auth-library'
import { googleClientOptions, startGoogleEmulator, type GoogleEmulatorOptions, type RunningGoogleEmulator } from '../../../emulators/google/app.ts'

interface Teardown { teardown (fn: () => unknown): void }

export { ALICE, BOB, EXPANDED, GMAIL_READONLY, IOS, OTHER_WEB, SCOPES, USERINFO_EMAIL, USERINFO_PROFILE, WEB } from '../../support/fixtures.ts'
import { ALICE, BOB, IOS, OTHER_WEB, SCOPES, WEB } from '../../support/fixtures.ts'
import type { TestClient } from '../../support/fixtures.ts'

export async function startEmulator (t: Teardown, options: GoogleEmulatorOptions = {}): Promise<RunningGoogleEmulator> {
  const emulator = await startGoogleEmulator({ clients: [WEB, OTHER_WEB, IOS], users: [ALICE, BOB], ...options })
  t.teardown(() => emulator.close())
  return emulator
}

/** A real google-auth-library client pointed at the emulator, as the server will build it. */
export function oauthClient (emulator: RunningGoogleEmulator, client: TestClient = WEB, extra: OAuth2ClientOptions = {}): OAuth2Client {
  const { endpoints, issuers } = googleClientOptions(emulator.baseUrl)
  return new OAuth2Client({
    clientId: client.id,
    clientSecret: client.secret ?? undefined,
    redirectUri: client.redirectUris[0],
    endpoints,
    issuers,
    ...extra
  })
}

export async function control<T = any> (emulator: RunningGoogleEmulator, method: string, path: string, body?: unknown): Promise<{ status: number, body: T }> {
  const response = await fetch(`${emulator.baseUrl}/__emulator${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  return { status: response.status, body: await response.json() as T }
}

export function pkce () {
  const codeVerifier = randomBytes(48).toString('base64url')
  return { codeVerifier, codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url') }
}

export interface ConsentOptions {
  client?: TestClient
  user?: string
  scope?: string[]
  scopes?: string[]
  codeChallenge?: string
  nonce?: string
  accessType?: 'online' | 'offline'
  prompt?: string
  includeGrantedScopes?: boolean
  state?: string
}

/** The user consents (through the control API); returns the code and redirect. */
export async function consent (emulator: RunningGoogleEmulator, o: ConsentOptions = {}): Promise<{ code: string, redirect: string, scope: string }> {
  const client = o.client ?? WEB
  const { status, body } = await control(emulator, 'POST', '/authorize', {
    client_id: client.id,
    redirect_uri: client.redirectUris[0],
    user: o.user ?? ALICE.email,
    scope: o.scope ?? SCOPES,
    ...(o.scopes ? { scopes: o.scopes } : {}),
    state: o.state ?? 'st4te',
    access_type: o.accessType ?? 'offline',
    ...(o.codeChallenge ? { code_challenge: o.codeChallenge } : {}),
    ...(o.nonce ? { nonce: o.nonce } : {}),
    ...(o.prompt ? { prompt: o.prompt } : {}),
    ...(o.includeGrantedScopes !== undefined ? { include_granted_scopes: o.includeGrantedScopes } : {})
  })
  if (status !== 200) throw new Error(`authorize failed: ${status} ${JSON.stringify(body)}`)
  return body
}

/** Consent and code exchange through the real library, with PKCE. */
export async function signIn (emulator: RunningGoogleEmulator, o: ConsentOptions = {}) {
  const client = oauthClient(emulator, o.client ?? WEB)
  const { codeVerifier, codeChallenge } = pkce()
  const { code } = await consent(emulator, { ...o, codeChallenge })
  const { tokens } = await client.getToken({ code, codeVerifier })
  client.setCredentials(tokens)
  return { client, tokens }
}

/** Raw form POST to the token endpoint, for cases the library would not send. */
export async function tokenRequest (emulator: RunningGoogleEmulator, form: Record<string, string>): Promise<{ status: number, body: any }> {
  const response = await fetch(`${emulator.baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form)
  })
  return { status: response.status, body: await response.json() }
}

/** The HTTP status and body a rejected google-auth-library / googleapis call got. */
export async function failure (promise: Promise<unknown>): Promise<{ status?: number, data: any, headers?: Headers, message: string }> {
  try {
    await promise
  } catch (err) {
    const e = err as { message: string, response?: { status: number, data: unknown, headers: Headers } }
    return { status: e.response?.status, data: e.response?.data, headers: e.response?.headers, message: e.message }
  }
  throw new Error('expected the call to fail')
}
