import type { FastifyInstance } from 'fastify'
import { ManualClock } from '../../src/clock.ts'
import { startGoogleEmulator } from '../../emulators/google/app.ts'
import type { RunningGoogleEmulator } from '../../emulators/google/app.ts'
import type { UserInput } from '../../emulators/google/state.ts'
import { buildTestApp, gql, signUp } from '../helper.ts'
import type { BuildOptions } from '../helper.ts'
import { ConnectGmailDocument } from '../support/generated/graphql.ts'
import { custodyVaultKind, kmsVaultEnv } from '../support/kms.ts'

interface Teardown { teardown (fn: () => unknown): void }

export { ALICE, BOB, FOREIGN_IOS, GMAIL_READONLY, IOS, WEB } from '../support/fixtures.ts'
import { ALICE, BOB, FOREIGN_IOS, GMAIL_READONLY, IOS, WEB } from '../support/fixtures.ts'

export interface GmailTestContext {
  app: FastifyInstance
  logs: string[]
  google: RunningGoogleEmulator
  clock: ManualClock
  pgSchema: string
  /** A signed-up inboxgate user with a NATIVE session. */
  user: { id: string, accessToken: string }
}

/** The real app, the Google emulator on one shared clock, and a signed-up user. */
export async function buildGmailApp (t: Teardown, opts: BuildOptions & { google?: RunningGoogleEmulator, clock?: ManualClock } = {}): Promise<GmailTestContext> {
  const clock = opts.clock ?? new ManualClock()
  const google = opts.google ?? await startGoogleEmulator({ clients: [WEB, IOS, FOREIGN_IOS], users: [ALICE, BOB], clock })
  if (opts.google == null) t.teardown(() => google.close())
  // TEST_TOKEN_VAULT=kms: every app that does not ask for a vault, or asks for Secrets Manager through
  // custodyVaultEnv(), gets the KMS vault instead (test/support/kms.ts).
  const kms = custodyVaultKind === 'kms' && opts.vault == null && (opts.env?.TOKEN_VAULT == null || opts.env.TOKEN_VAULT === 'kms') ? await kmsVaultEnv() : {}
  const { app, logs, pgSchema } = await buildTestApp(t, {
    ...opts,
    clock,
    env: {
      ...kms,
      GOOGLE_CLIENT_ID: WEB.id,
      GOOGLE_CLIENT_SECRET: WEB.secret,
      GOOGLE_IOS_CLIENT_IDS: IOS.id,
      GOOGLE_API_BASE_URL: google.baseUrl,
      GOOGLE_TIMEOUT_MS: '1000',
      ...opts.env
    }
  })
  const s = await signUp(app, 'NATIVE')
  return { app, logs, google, clock, pgSchema, user: { id: s.user.id, accessToken: s.accessToken } }
}

/** What the iOS app holds after Google Sign-In (GIDGoogleUser). */
export function iosSignIn (ctx: GmailTestContext, user: UserInput = ALICE, scopes: string[] = [GMAIL_READONLY], clientId: string = IOS.id) {
  return ctx.google.state.nativeSignIn({ clientId, user: user.email!, scopes })
}

/**
 * Connects as the iOS app would. google-auth-library checks ID tokens against the wall clock, so after a
 * test has moved the shared clock forward it connects without one (`withIdToken: false`).
 */
export async function connectWithTokens (ctx: GmailTestContext, user: UserInput = ALICE, token = ctx.user.accessToken, withIdToken = true) {
  const g = iosSignIn(ctx, user)
  return await gql(ctx.app, ConnectGmailDocument, {
    input: { accessToken: g.accessToken, refreshToken: g.refreshToken, expiresIn: g.expiresIn, scope: g.grantedScopes.join(' '), ...(withIdToken ? { idToken: g.idToken } : {}) }
  }, { token })
}

export const tokenCalls = (google: RunningGoogleEmulator) => google.state.stats().grantTypes.refresh_token ?? 0
