import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import t from 'tap'
import type { Test } from 'tap'
import { ErrorCodes } from '../../src/errors.ts'
import { gql } from '../helper.ts'
import { ALICE, buildGmailApp, connectWithTokens, tokenCalls } from '../gmail/helpers.ts'
import type { GmailTestContext } from '../gmail/helpers.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { postgresFromEnv } from './support/harness.ts'
import { waitFor } from '../support/wait-for.ts'
import { GmailProfileDocument, GmailStatusDocument } from '../support/generated/graphql.ts'

// Issue 5: the vault (moto) stops in the middle of an operation, after its first steps succeeded and while the
// request is inside Google's call, so the failure lands on the vault write. test/gmail/custody-faults.test.ts covers
// a vault that is already down when the call starts, and a frozen one; here it dies mid-flight. Expected: a clear
// VAULT_UNAVAILABLE, no connection row without its secret (nor the reverse), the grant kept, and the same server
// instance working again once moto is back on its port.
//
// On PostgreSQL when PG_URL is set (npm run test:faults), else on PGlite: the fault is in the vault, not the database.

const cluster = postgresFromEnv()
if (cluster != null) process.env.TEST_DATABASE_URL = cluster.url
t.comment(`database: ${cluster != null ? 'PostgreSQL (PG_URL)' : 'PGlite (PG_URL not set)'}`)

// Persistent: moto keeps state in memory, so its restart replays a recording and the secrets survive the outage.
const moto = await startMoto({ persistent: true })
t.teardown(() => moto.stop())
useMotoEnv(t, moto)
const admin = new SecretsManagerClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 })
t.teardown(() => admin.destroy())

const secretsOf = async (userId: string) =>
  ((await admin.send(new ListSecretsCommand({ IncludePlannedDeletion: true }))).SecretList ?? []).filter((s) => s.Name === `gmail/user/${userId}`)

/** The app on the AWS vault; Google's timeout is long enough for the emulator's 2 s latency to pass. */
async function app (t: Test): Promise<GmailTestContext> {
  const ctx = await buildGmailApp(t, { env: { TOKEN_VAULT: 'aws', GOOGLE_TIMEOUT_MS: '10000' } })
  t.equal(ctx.app.vault.kind, 'aws')
  t.teardown(async () => { if (!moto.running) await moto.restart() })
  return ctx
}

/** Holds the next call to one Google endpoint for 2 s; resolves once that call has arrived. */
async function holdGoogle (ctx: GmailTestContext, endpoint: 'tokeninfo' | 'token') {
  const before = ctx.google.state.stats().requests[endpoint] ?? 0
  ctx.google.state.addFault({ endpoint, kind: 'timeout', delayMs: 2000, times: 1 })
  return async () => await waitFor(() => (ctx.google.state.stats().requests[endpoint] ?? 0) > before, `a ${endpoint} call at Google`, 20_000)
}

t.test('moto stops while connectGmail is inside Google: VAULT_UNAVAILABLE, no row, no secret; connecting works once it is back', async (t) => {
  const ctx = await app(t)
  const token = ctx.user.accessToken
  const arrived = await holdGoogle(ctx, 'tokeninfo')
  const connecting = connectWithTokens(ctx)
  await arrived()
  await moto.stop() // the vault dies while Google is validating the tokens
  const res = await connecting
  t.equal(res.errors?.[0]?.extensions.code, ErrorCodes.VAULT_UNAVAILABLE, `connectGmail: VAULT_UNAVAILABLE (got ${JSON.stringify(res.errors)})`)
  t.equal(res.errors?.[0]?.message, 'Token vault is unavailable, try again later')
  t.notOk(res.data?.connectGmail)
  t.equal(await ctx.app.prisma.gmailConnection.count({ where: { userId: ctx.user.id } }), 0, 'no connection row without its secret')
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token })).data?.gmailStatus.state, 'NOT_CONNECTED', 'gmailStatus answers during the outage')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: ctx.user.id, type: 'GMAIL_CONNECTED' } }), 0)

  const down = await connectWithTokens(ctx, ALICE, token, false)
  t.equal(down.errors?.[0]?.extensions.code, ErrorCodes.VAULT_UNAVAILABLE, 'while it lasts, every attempt says VAULT_UNAVAILABLE')

  await moto.restart()
  t.same(await secretsOf(ctx.user.id), [], 'no secret without its row either')
  const again = await connectWithTokens(ctx, ALICE, token, false)
  t.equal(again.errors, undefined, 'the same server instance connects once moto is back')
  t.equal(again.data?.connectGmail.status.state, 'ACTIVE')
  t.equal((await secretsOf(ctx.user.id)).length, 1, 'one secret')
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  t.equal(row.vaultVersion, 1)
  t.equal((await ctx.app.vault.get(ctx.user.id))?.googleSub, row.googleSub, 'the row and the secret name the same Google account')
  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token })
  t.equal(profile.data?.gmailProfile?.emailAddress, ALICE.email, 'Gmail works through the new grant')
})

t.test('moto stops during a proactive refresh, after Google answered: VAULT_UNAVAILABLE, grant and row untouched; the refresh succeeds once it is back', async (t) => {
  const ctx = await app(t)
  const token = ctx.user.accessToken
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  const held = await ctx.app.vault.get(ctx.user.id)
  const rowBefore = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  ctx.clock.advance(57 * 60_000) // 2 minutes left: inside the 5-minute margin
  ctx.google.state.resetStats()

  // Under the row lock the server reads the vault (moto up), calls Google (held 2 s; moto dies meanwhile),
  // then writes the new token to the vault: that write fails.
  const arrived = await holdGoogle(ctx, 'token')
  const profile = gql(ctx.app, GmailProfileDocument, {}, { token })
  await arrived()
  await moto.stop()
  const failed = await profile
  t.equal(failed.errors?.[0]?.extensions.code, ErrorCodes.VAULT_UNAVAILABLE, `gmailProfile: VAULT_UNAVAILABLE (got ${JSON.stringify(failed.errors)})`)
  t.equal(tokenCalls(ctx.google), 1, 'Google did refresh: the failure is the vault write after it')
  const rowDuring = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  t.same(rowDuring, rowBefore, 'the row did not move (its transaction rolled back)')
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token })).data?.gmailStatus.state, 'ACTIVE', 'gmailStatus: still ACTIVE')
  const again = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id).then(() => null, (err: { code?: string }) => err.code)
  t.equal(again, ErrorCodes.VAULT_UNAVAILABLE, 'while it lasts: VAULT_UNAVAILABLE again, nothing deleted')
  t.equal(ctx.app.vault.stats().deletes, 0, 'no vault delete was attempted')

  await moto.restart()
  t.same(await ctx.app.vault.get(ctx.user.id), held, 'the secret is the grant held before: the failed write left nothing half-done')
  ctx.google.state.resetStats()
  const ok = await gql(ctx.app, GmailProfileDocument, {}, { token })
  t.equal(ok.errors, undefined, 'the same server instance refreshes once moto is back')
  t.equal(ok.data?.gmailProfile.emailAddress, ALICE.email)
  t.equal(tokenCalls(ctx.google), 1, 'one refresh')
  const after = await ctx.app.vault.get(ctx.user.id)
  t.equal(after?.refreshToken, held?.refreshToken, 'the same refresh token: the grant was never lost')
  t.not(after?.accessToken, held?.accessToken, 'a new access token is stored')
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  t.equal(row.vaultVersion, rowBefore.vaultVersion + 1, 'one committed refresh')
  t.equal(row.accessTokenExpiresAt?.getTime(), after?.expiryDate, 'the row and the secret agree on the expiry')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: ctx.user.id, type: 'GMAIL_RECONNECT_REQUIRED' } }), 0)
})
