import { setTimeout as sleep } from 'node:timers/promises'
import t, { test } from 'tap'
import type { Test } from 'tap'
import { ErrorCodes } from '../../src/errors.ts'
import { grantHashOf } from '../../src/gmail/grant-lock.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { ALICE, BOB, buildGmailApp, connectWithTokens } from './helpers.ts'
import type { GmailTestContext } from './helpers.ts'
import { startWorker } from './token-worker-process.ts'
import { custodyVaultEnv, custodyVaultKind } from '../support/kms.ts'

// docs/security.md item 29: one writer at a time per user's grant. A refresh of the previous grant is held by a slow
// Google (the emulator's delay fault) while the user reconnects; whichever way Google answers, the new grant wins.
// In one process (PGlite by default, PostgreSQL with TEST_DATABASE_URL) and, on PostgreSQL, across two OS processes.

const NEAR_EXPIRY_MS = 57 * 60_000
const SLOW_MS = 2500
const pgUrl = process.env.TEST_DATABASE_URL
const onPostgres = pgUrl != null && pgUrl !== ''
const NEEDS_PG = 'needs TEST_DATABASE_URL: two processes cannot share a PGlite database'

// The two-process tests share the vault between processes: Secrets Manager (moto), as two production servers would.
const moto = onPostgres ? await startMoto() : null
if (moto != null) {
  t.teardown(() => moto.stop())
  useMotoEnv(t, moto)
}

// The clock moves 57 minutes before the switch to Bob: a sign-in that old needs a step-up to switch accounts (item 61,
// test/gmail/connect-step-up.test.ts); these tests are about the grant lock, so the sign-in counts as recent here.
const slowApp = async (t: Test) => await buildGmailApp(t, { env: { GOOGLE_TIMEOUT_MS: '10000', REAUTH_MAX_AGE_SECONDS: '7200', ...(onPostgres ? await custodyVaultEnv() : {}) } })

/** Waits until the emulator is holding the refresh (the delay fault was taken). */
async function whileGoogleIsSlow (ctx: GmailTestContext): Promise<void> {
  const deadline = Date.now() + 30_000
  while (ctx.google.state.stats().faultsInjected < 1) {
    if (Date.now() > deadline) throw new Error('the refresh never reached Google')
    await sleep(10)
  }
}

/** The vault and the row agree on the new grant, and it serves tokens. */
async function assertNewGrantHeld (t: Test, ctx: GmailTestContext, newSub: string, oldRefreshToken: string) {
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  const held = await ctx.app.vault.get(ctx.user.id)
  t.equal(row.state, 'ACTIVE', 'the connection is ACTIVE')
  t.equal(row.googleSub, newSub, 'the row names the new account')
  t.ok(held != null, 'the vault still holds a grant')
  t.equal(held?.googleSub, newSub, 'the vault holds the new grant, not the old one written over it')
  t.not(held?.refreshToken, oldRefreshToken, 'not the old refresh token')
  t.equal(row.grantHash, grantHashOf(held?.refreshToken ?? ''), 'the row names the grant the vault holds (by hash)')
  if (held != null) t.notOk(JSON.stringify(row).includes(held.refreshToken), 'the refresh token itself is not in the database')
  ctx.google.state.clearFaults()
  const token = await ctx.app.gmailConnections.refreshNow(ctx.user.id)
  t.equal((await ctx.app.vault.get(ctx.user.id))?.accessToken, token, 'the new grant refreshes at Google: it is live')
}

test('in one process: a slow refresh of the old grant does not write over a reconnect (account switched)', async (t) => {
  const ctx = await slowApp(t)
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  const old = (await ctx.app.vault.get(ctx.user.id))!
  ctx.clock.advance(NEAR_EXPIRY_MS)
  ctx.google.state.resetStats()
  ctx.google.state.addFault({ endpoint: 'token', kind: 'delay', delayMs: SLOW_MS, times: 1 })

  const refreshing = ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id).then((token) => ({ token }), (error: unknown) => ({ error }))
  await whileGoogleIsSlow(ctx)
  const connected = await connectWithTokens(ctx, BOB, ctx.user.accessToken, false)
  t.equal(connected.errors, undefined)
  t.equal(connected.data?.connectGmail.status.state, 'ACTIVE')
  t.same(connected.data?.connectGmail.warnings.map((w: { code: string }) => w.code), ['ACCOUNT_SWITCHED'])
  const refreshed = await refreshing
  t.ok('token' in refreshed, 'the old grant\'s refresh itself succeeded (it finished first)')
  await assertNewGrantHeld(t, ctx, BOB.sub, old.refreshToken)
})

test('in one process: a slow refresh ending in invalid_grant deletes only the old grant, never the reconnected one', async (t) => {
  const ctx = await slowApp(t)
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  const old = (await ctx.app.vault.get(ctx.user.id))!
  ctx.clock.advance(NEAR_EXPIRY_MS)
  ctx.google.state.resetStats()
  ctx.google.state.addFault({ endpoint: 'token', kind: 'invalid_grant', delayMs: SLOW_MS, times: 1 })

  const refreshing = ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id).then((token) => ({ token }), (error: unknown) => ({ error }))
  await whileGoogleIsSlow(ctx)
  const connected = await connectWithTokens(ctx, ALICE, ctx.user.accessToken, false)
  t.equal(connected.errors, undefined)
  t.equal(connected.data?.connectGmail.status.state, 'ACTIVE')
  const refreshed = await refreshing
  t.equal((refreshed as { error?: { code?: string } }).error?.code, ErrorCodes.RECONNECT_REQUIRED, 'the old grant\'s refresh: RECONNECT_REQUIRED')
  await assertNewGrantHeld(t, ctx, ALICE.sub, old.refreshToken)
})

/** The old grant's refresh runs in another OS process (test/gmail/token-worker.ts); this process reconnects. */
async function raceAcrossProcesses (t: Test, fault: 'delay' | 'invalid_grant', reconnectAs: typeof ALICE | typeof BOB) {
  const ctx = await slowApp(t)
  t.equal(ctx.app.vault.kind, custodyVaultKind, `both processes on the custody suite's vault (${custodyVaultKind})`)
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  // The worker runs on the wall clock: put the stored expiry inside the refresh margin instead of moving time.
  const old = (await ctx.app.vault.get(ctx.user.id))!
  const expiry = Date.now() + 60_000
  await ctx.app.vault.put(ctx.user.id, { ...old, expiryDate: expiry })
  await ctx.app.prisma.gmailConnection.update({ where: { userId: ctx.user.id }, data: { accessTokenExpiresAt: new Date(expiry), vaultVersion: { increment: 1 } } })

  const worker = startWorker(t, {
    WORKER_PG_SCHEMA: ctx.pgSchema,
    WORKER_GOOGLE_BASE_URL: ctx.google.baseUrl,
    WORKER_USER_ID: ctx.user.id,
    WORKER_CALLERS: '1',
    WORKER_GOOGLE_TIMEOUT_MS: '10000'
  })
  await worker.ready
  ctx.google.state.resetStats()
  ctx.google.state.addFault({ endpoint: 'token', kind: fault, delayMs: SLOW_MS, times: 1 })
  worker.go()
  await whileGoogleIsSlow(ctx)
  const connected = await connectWithTokens(ctx, reconnectAs, ctx.user.accessToken)
  t.equal(connected.errors, undefined)
  t.equal(connected.data?.connectGmail.status.state, 'ACTIVE')
  const result = await worker.result
  if (fault === 'invalid_grant') t.same(result.errors, [ErrorCodes.RECONNECT_REQUIRED], 'the other process saw its old grant die')
  else t.same(result.errors, [], 'the other process refreshed the old grant')
  await assertNewGrantHeld(t, ctx, reconnectAs.sub, old.refreshToken)
}

test('two processes: a slow refresh of the old grant does not write over a reconnect', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  await raceAcrossProcesses(t, 'delay', BOB)
})

test('two processes: a slow invalid_grant of the old grant does not delete the reconnected grant', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  await raceAcrossProcesses(t, 'invalid_grant', ALICE)
})

t.end()
