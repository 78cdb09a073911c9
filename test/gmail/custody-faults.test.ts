import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient
} from '@aws-sdk/client-secrets-manager'
import t, { test } from 'tap'
import type { Test } from 'tap'
import type { ManualClock } from '../../src/clock.ts'
import { ErrorCodes } from '../../src/errors.ts'
import { GmailConnections } from '../../src/gmail/gmail-connections.ts'
import type { RunningGoogleEmulator } from '../../emulators/google/app.ts'
import { AwsSecretsManagerVault } from '../../src/vault/aws-secrets-manager-vault.ts'
import { VAULT_UNAVAILABLE_MESSAGE } from '../../src/vault/token-vault.ts'
import { gql } from '../helper.ts'
import type { BuildOptions } from '../helper.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { ALICE, buildGmailApp, connectWithTokens, tokenCalls } from './helpers.ts'
import type { GmailTestContext } from './helpers.ts'
import { startWorker } from './token-worker-process.ts'
import { GmailProfileDocument, GmailStatusDocument } from '../support/generated/graphql.ts'

// docs/security.md items 17–18 with real components: the AWS vault against a moto_server that goes down and comes
// back, and (on PostgreSQL) several server instances sharing one database, in one process and in two.

const NEAR_EXPIRY_MS = 57 * 60_000 // Google's tokens live 3599 s; 57 min later 2 min are left, inside the 5 min margin
const pgUrl = process.env.TEST_DATABASE_URL
const onPostgres = pgUrl != null && pgUrl !== ''
const NEEDS_PG = 'needs TEST_DATABASE_URL: PGlite is one process\'s database, so two instances cannot share it'

// Persistent: moto keeps its state in memory only, so restart() replays a recording and the secrets survive the outage.
const moto = await startMoto({ persistent: true })
// Root teardown: runs once the root test ends, whatever happened (t.end() at the bottom ends it).
t.teardown(() => moto.stop())

// The app is built with TOKEN_VAULT=aws, the real configuration path: createTokenVault gives the SDK no endpoint,
// region or credentials, so it reads them from process.env, exactly as in production. Restored at the end.
useMotoEnv(t, moto)

/** Looks at moto directly, with its own explicit configuration, bypassing the app's vault. */
const admin = new SecretsManagerClient({
  endpoint: moto.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  maxAttempts: 1
})
t.teardown(() => admin.destroy())

const secretNameOf = (userId: string) => `gmail/user/${userId}`

async function allSecretNames (includePlannedDeletion = false): Promise<string[]> {
  const names: string[] = []
  let NextToken: string | undefined
  do {
    const page = await admin.send(new ListSecretsCommand({ NextToken, IncludePlannedDeletion: includePlannedDeletion }))
    names.push(...(page.SecretList ?? []).map((s) => s.Name ?? ''))
    NextToken = page.NextToken
  } while (NextToken != null)
  return names
}

async function rawSecret (userId: string): Promise<Record<string, unknown>> {
  const out = await admin.send(new GetSecretValueCommand({ SecretId: secretNameOf(userId) }))
  return JSON.parse(out.SecretString ?? 'null') as Record<string, unknown>
}

async function versionCount (userId: string): Promise<number> {
  const out = await admin.send(new ListSecretVersionIdsCommand({ SecretId: secretNameOf(userId), IncludeDeprecated: true, MaxResults: 100 }))
  return out.Versions?.length ?? 0
}

/** The real app with TOKEN_VAULT=aws; fails the test if the configuration did not yield the AWS vault. */
async function awsGmailApp (t: Test, opts: BuildOptions & { google?: RunningGoogleEmulator, clock?: ManualClock } = {}): Promise<GmailTestContext> {
  const ctx = await buildGmailApp(t, { ...opts, env: { TOKEN_VAULT: 'aws', ...opts.env } })
  t.equal(ctx.app.vault.kind, 'aws', 'TOKEN_VAULT=aws gives the Secrets Manager vault')
  t.ok(ctx.app.vault instanceof AwsSecretsManagerVault)
  return ctx
}

/** If a test fails while moto is down or frozen, the next tests still get a working vault. */
function keepMotoUpAfter (t: Test, paused?: { value: boolean }) {
  t.teardown(async () => {
    if (paused?.value === true) {
      moto.resume()
      paused.value = false
    }
    if (!moto.running) await moto.restart()
  })
}

async function timed<T> (p: Promise<T>): Promise<{ ms: number, value?: T, error?: unknown }> {
  const start = performance.now()
  try {
    const value = await p
    return { ms: performance.now() - start, value }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}

const codeOf = (err: unknown) => (err as { code?: unknown } | undefined)?.code

test('TOKEN_VAULT=aws: connectGmail stores the grant under exactly gmail/user/{userId}', async (t) => {
  const ctx = await awsGmailApp(t)
  const res = await connectWithTokens(ctx)
  t.equal(res.errors, undefined)
  t.equal(res.data?.connectGmail.status.state, 'ACTIVE')

  const name = secretNameOf(ctx.user.id)
  t.same((await allSecretNames()).filter((n) => n.includes(ctx.user.id)), [name], 'one secret for the user, with exactly that name')
  const d = await admin.send(new DescribeSecretCommand({ SecretId: name }))
  t.equal(d.Name, name)
  t.equal(d.DeletedDate, undefined)
  const held = await ctx.app.vault.get(ctx.user.id)
  t.equal(held?.googleSub, ALICE.sub)
  t.same(await rawSecret(ctx.user.id), held, 'the secret moto holds is the bundle the app reads back')
})

test('the AWS vault goes down near expiry: VAULT_UNAVAILABLE, status still ACTIVE, nothing lost; it recovers without a restart', async (t) => {
  const ctx = await awsGmailApp(t)
  keepMotoUpAfter(t)
  const token = ctx.user.accessToken
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  const first = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  const held = await ctx.app.vault.get(ctx.user.id)
  t.equal(held?.accessToken, first)
  const rowBefore = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  const versionsBefore = await versionCount(ctx.user.id)

  ctx.clock.advance(NEAR_EXPIRY_MS)
  ctx.google.state.resetStats()
  const statsBefore = ctx.app.vault.stats()
  await moto.stop()

  // Near expiry the custody layer must read the refresh token from the vault: that read fails.
  const direct = await timed(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id))
  t.equal(codeOf(direct.error), ErrorCodes.VAULT_UNAVAILABLE, 'getGmailAccessToken: VAULT_UNAVAILABLE')
  t.equal((direct.error as Error | undefined)?.message, VAULT_UNAVAILABLE_MESSAGE)
  t.ok(direct.ms < 5000, `fails within a bounded time (${Math.round(direct.ms)} ms)`)
  t.equal(tokenCalls(ctx.google), 0, 'Google is not asked for a token that could not be stored')

  const profile = await timed(gql(ctx.app, GmailProfileDocument, {}, { token }))
  t.equal(profile.value?.errors?.[0]?.extensions.code, ErrorCodes.VAULT_UNAVAILABLE, 'gmailProfile: VAULT_UNAVAILABLE')
  t.equal(profile.value?.errors?.[0]?.message, VAULT_UNAVAILABLE_MESSAGE)
  t.notOk(profile.value?.data?.gmailProfile, 'no profile data')
  t.ok(profile.ms < 5000, `gmailProfile answers within a bounded time (${Math.round(profile.ms)} ms)`)
  const body = JSON.stringify(profile.value?.response.json())
  for (const secret of [held!.accessToken, held!.refreshToken]) t.notOk(body.includes(secret), 'no token in the error response')

  // gmailStatus reads only the database, so it keeps working and reports what is true: the grant is held.
  const status = await gql(ctx.app, GmailStatusDocument, {}, { token })
  t.equal(status.errors, undefined)
  t.equal(status.data?.gmailStatus.state, 'ACTIVE', 'gmailStatus still works and says ACTIVE')
  t.equal(new Date(status.data?.gmailStatus.accessTokenExpiresAt ?? '').getTime(), rowBefore.accessTokenExpiresAt?.getTime())

  // Google validates the new tokens, then the vault write fails: the row must not move (vault first, then the row).
  const during = await timed(connectWithTokens(ctx, ALICE, token, false))
  t.equal(during.value?.errors?.[0]?.extensions.code, ErrorCodes.VAULT_UNAVAILABLE, 'connectGmail: VAULT_UNAVAILABLE')
  t.ok(during.ms < 10_000, `connectGmail fails within a bounded time (${Math.round(during.ms)} ms)`)
  t.same(await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } }), rowBefore, 'the connection row is unchanged')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: ctx.user.id, type: 'GMAIL_CONNECTED' } }), 1, 'no second GMAIL_CONNECTED')

  const statsDown = ctx.app.vault.stats()
  t.equal(statsDown.deletes - statsBefore.deletes, 0, 'no delete was even attempted')
  t.equal(statsDown.errors - statsBefore.errors, 3, 'the three vault calls (2 reads, 1 write) all failed')

  await moto.restart()
  t.equal((await admin.send(new DescribeSecretCommand({ SecretId: secretNameOf(ctx.user.id) }))).DeletedDate, undefined, 'the secret survived the outage')
  t.same(await rawSecret(ctx.user.id), held, 'the failed connect overwrote nothing')
  t.equal(await versionCount(ctx.user.id), versionsBefore, 'no version was written during the outage')

  // Same server instance: the SDK client reconnects on its own.
  ctx.google.state.resetStats()
  const refreshed = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  t.not(refreshed, first, 'the next call refreshes')
  t.equal(tokenCalls(ctx.google), 1, 'one Google token call')
  const after = await ctx.app.vault.get(ctx.user.id)
  t.equal(after?.accessToken, refreshed, 'the new access token is stored')
  t.equal(after?.refreshToken, held!.refreshToken, 'the same grant: never deleted, never replaced')
  t.equal(await versionCount(ctx.user.id), versionsBefore + 1, 'one new secret version')

  const again = await gql(ctx.app, GmailProfileDocument, {}, { token })
  t.equal(again.errors, undefined)
  t.equal(again.data?.gmailProfile.emailAddress, ALICE.email, 'gmailProfile works again')
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  t.equal(row.state, 'ACTIVE')
  t.equal(row.vaultVersion, rowBefore.vaultVersion + 1)
  t.equal(ctx.app.vault.stats().deletes, statsBefore.deletes, 'no vault delete at any point')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: ctx.user.id, type: 'GMAIL_RECONNECT_REQUIRED' } }), 0)
  for (const secret of [held!.refreshToken, refreshed]) t.notOk(ctx.logs.join('\n').includes(secret), 'no token in the logs')
})

test('a hung vault (moto frozen) is bounded by the SDK timeouts and still reads as VAULT_UNAVAILABLE', async (t) => {
  const ctx = await awsGmailApp(t)
  const paused = { value: false }
  keepMotoUpAfter(t, paused)
  await connectWithTokens(ctx)
  ctx.clock.advance(NEAR_EXPIRY_MS)
  ctx.google.state.resetStats()

  moto.pause()
  paused.value = true
  // The vault read runs inside the row-lock transaction (timeout GOOGLE_TIMEOUT_MS × 4 + 10 s = 14 s). The SDK gives
  // up first (3 attempts × 3 s request timeout), so the caller sees VAULT_UNAVAILABLE, not a transaction timeout.
  const hung = await timed(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id))
  moto.resume()
  paused.value = false
  t.equal(codeOf(hung.error), ErrorCodes.VAULT_UNAVAILABLE, `VAULT_UNAVAILABLE (got ${String(codeOf(hung.error) ?? (hung.error as Error | undefined)?.message)})`)
  t.ok(hung.ms < 14_000, `bounded wait (${Math.round(hung.ms)} ms)`)
  t.equal(tokenCalls(ctx.google), 0)

  const token = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  t.equal((await ctx.app.vault.get(ctx.user.id))?.accessToken, token, 'recovers once the vault answers')
  t.equal(tokenCalls(ctx.google), 1)
})

test('invalid_grant with the AWS vault force-deletes the secret; reconnecting right after reuses the name', async (t) => {
  const ctx = await awsGmailApp(t)
  const name = secretNameOf(ctx.user.id)
  await connectWithTokens(ctx)
  t.ok((await admin.send(new DescribeSecretCommand({ SecretId: name }))).ARN)
  const before = ctx.app.vault.stats()

  ctx.google.state.revokeUserAccess(ALICE.email)
  ctx.clock.advance(NEAR_EXPIRY_MS)
  await t.rejects(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), { code: ErrorCodes.RECONNECT_REQUIRED })
  t.equal(ctx.app.vault.stats().deletes - before.deletes, 1, 'one vault delete')
  // A delete with a recovery window would leave the secret describable, with a DeletedDate, for 7–30 days.
  await t.rejects(admin.send(new DescribeSecretCommand({ SecretId: name })), { name: 'ResourceNotFoundException' }, 'gone, not scheduled for deletion')
  t.notOk((await allSecretNames(true)).includes(name), 'not listed even among secrets planned for deletion')
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'RECONNECT_REQUIRED')

  const again = await connectWithTokens(ctx, ALICE, ctx.user.accessToken, false)
  t.equal(again.errors, undefined, 'reconnecting right after works')
  t.equal(again.data?.connectGmail.status.state, 'ACTIVE')
  const d = await admin.send(new DescribeSecretCommand({ SecretId: name }))
  t.equal(d.Name, name, 'the same name, reused at once')
  t.equal(d.DeletedDate, undefined)
  const held = await ctx.app.vault.get(ctx.user.id)
  t.same(await rawSecret(ctx.user.id), held)
  t.equal(await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), held?.accessToken, 'the new grant serves tokens')
})

test('after another instance refreshed, 50 callers with a stale token cache share one vault read', async (t) => {
  // Every refresh bumps the row's vaultVersion, which invalidates the token cache of every other instance; a
  // restarted instance starts with no cache at all. The next burst of callers there finds a fresh token in the
  // row and must read the vault for it: once, not once per caller (Secrets Manager bills and throttles per call).
  const ctx = await awsGmailApp(t)
  await connectWithTokens(ctx)
  const first = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  const app = ctx.app
  // "Another instance": a second custody service on the same database, vault and Google, with its own cache.
  const other = new GmailConnections({
    prisma: app.prisma,
    vault: app.vault,
    google: app.googleGateway,
    auditLog: app.auditLog,
    clock: app.clock,
    log: app.log,
    refreshMarginSeconds: app.config.GMAIL_REFRESH_MARGIN_SECONDS,
    gmailScopes: app.config.GMAIL_SCOPES
  })
  ctx.clock.advance(NEAR_EXPIRY_MS)
  const refreshed = await other.getGmailAccessToken(ctx.user.id)
  t.not(refreshed, first)

  ctx.google.state.resetStats()
  const before = app.vault.stats()
  const tokens = await Promise.all(Array.from({ length: 50 }, async () => await app.gmailConnections.getGmailAccessToken(ctx.user.id)))
  t.same([...new Set(tokens)], [refreshed], 'everyone got the token the other instance stored')
  t.equal(tokenCalls(ctx.google), 0, 'no Google call: the token is fresh')
  t.equal(app.vault.stats().reads - before.reads, 1, `one vault read for 50 callers (got ${app.vault.stats().reads - before.reads})`)
})

test('two server instances on one PostgreSQL database: 100 callers near expiry, one Google refresh', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  // Two apps on one schema, one Google emulator, one clock, and the same Secrets Manager (moto) through two
  // separate AwsSecretsManagerVault instances, as two production servers would have. Each instance has its own
  // in-process single-flight map, token cache and connection pool: only the database row lock (SELECT … FOR
  // UPDATE, re-checked under the lock) keeps the second instance from refreshing again.
  const a = await awsGmailApp(t)
  const b = await awsGmailApp(t, { pgSchema: a.pgSchema, google: a.google, clock: a.clock })
  t.not(a.app.vault, b.app.vault, 'separate vault clients')
  t.not(a.app.gmailConnections, b.app.gmailConnections, 'separate custody services (separate single-flight maps)')
  t.equal((await connectWithTokens(a)).data?.connectGmail.status.state, 'ACTIVE')
  t.equal((await b.app.gmailConnections.status(a.user.id)).state, 'ACTIVE', 'instance B sees the connection made through A')
  const first = await a.app.gmailConnections.getGmailAccessToken(a.user.id)
  t.equal(await b.app.gmailConnections.getGmailAccessToken(a.user.id), first, 'before expiry both serve the stored token')

  a.clock.advance(NEAR_EXPIRY_MS)
  a.google.state.resetStats()
  const row0 = await a.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: a.user.id } })
  const versions0 = await versionCount(a.user.id)
  const sa = a.app.vault.stats()
  const sb = b.app.vault.stats()

  const calls = (ctx: GmailTestContext) => Array.from({ length: 50 }, async () => await ctx.app.gmailConnections.getGmailAccessToken(a.user.id))
  const [onA, onB] = await Promise.all([Promise.all(calls(a)), Promise.all(calls(b))])

  t.same([...new Set(onA)], [onA[0]], 'the 50 callers on A got one token')
  t.same([...new Set(onB)], [onA[0]], 'the 50 callers on B got that same token')
  t.not(onA[0], first, 'a fresh token')
  t.equal(tokenCalls(a.google), 1, 'exactly one Google refresh_token call across both instances')
  const ea = a.app.vault.stats()
  const eb = b.app.vault.stats()
  const writes = (ea.writes - sa.writes) + (eb.writes - sb.writes)
  const reads = (ea.reads - sa.reads) + (eb.reads - sb.reads)
  t.equal(writes, 1, 'one vault write in total')
  t.equal((ea.errors - sa.errors) + (eb.errors - sb.errors), 0)
  t.comment(`vault reads: A ${ea.reads - sa.reads}, B ${eb.reads - sb.reads}; writes: A ${ea.writes - sa.writes}, B ${eb.writes - sb.writes}`)
  // One read per instance's flight; a caller whose row read raced the commit may start one more, lock-checked flight.
  t.ok(reads >= 2 && reads <= 4, `vault reads in total: ${reads}`)
  t.equal(await versionCount(a.user.id), versions0 + 1, 'moto holds exactly one new secret version')
  const row = await a.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: a.user.id } })
  t.equal(row.vaultVersion, row0.vaultVersion + 1, 'one refresh committed')
  t.equal((await a.app.vault.get(a.user.id))?.accessToken, onA[0], 'the vault holds the token everyone got')
})

test('two OS processes on one PostgreSQL database and one AWS vault: one Google refresh', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  const ctx = await awsGmailApp(t)
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  // The workers run on the wall clock, which a test cannot move: instead the stored expiry (row and bundle) is put
  // 60 s from now, inside the 5 min refresh margin, as if the token had been issued 58 minutes ago.
  const held = await ctx.app.vault.get(ctx.user.id)
  const expiry = Date.now() + 60_000
  await ctx.app.vault.put(ctx.user.id, { ...held!, expiryDate: expiry })
  const row0 = await ctx.app.prisma.gmailConnection.update({
    where: { userId: ctx.user.id },
    data: { accessTokenExpiresAt: new Date(expiry), vaultVersion: { increment: 1 } }
  })
  const versions0 = await versionCount(ctx.user.id)

  const env = {
    WORKER_PG_SCHEMA: ctx.pgSchema,
    WORKER_GOOGLE_BASE_URL: ctx.google.baseUrl,
    WORKER_USER_ID: ctx.user.id,
    WORKER_CALLERS: '50',
    // What is tested is one flight across processes, not Google's timeout: a 1 s timeout on a loaded 2-core machine
    // aborts the one refresh and the retry shows up as a second Google call.
    WORKER_GOOGLE_TIMEOUT_MS: '10000'
  }
  const workers = [startWorker(t, env), startWorker(t, env)]
  await Promise.all(workers.map(async (w) => await w.ready))
  ctx.google.state.resetStats()
  for (const w of workers) w.go()
  const results = await Promise.all(workers.map(async (w) => await w.result))

  const tokens = results.flatMap((r) => r.tokens)
  t.same(results.map((r) => r.errors), [[], []], 'no caller failed')
  t.equal(tokens.length, 100)
  t.equal(new Set(tokens).size, 1, 'both processes got one and the same token')
  t.not(tokens[0], held!.accessToken, 'a fresh token')
  t.equal(tokenCalls(ctx.google), 1, 'exactly one Google refresh_token call across the two processes')
  const writes = results.reduce((n, r) => n + r.vault.writes, 0)
  const reads = results.reduce((n, r) => n + r.vault.reads, 0)
  t.comment(`vault per process: ${results.map((r) => `reads ${r.vault.reads} writes ${r.vault.writes}`).join('; ')}`)
  t.equal(writes, 1, 'one vault write in total')
  t.ok(reads >= 2 && reads <= 4, `vault reads in total: ${reads}`)
  t.equal(await versionCount(ctx.user.id), versions0 + 1, 'moto holds exactly one new secret version')
  t.equal((await ctx.app.vault.get(ctx.user.id))?.accessToken, tokens[0], 'the vault holds the token everyone got')
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  t.equal(row.vaultVersion, row0.vaultVersion + 1, 'one refresh committed')
})

t.end()
