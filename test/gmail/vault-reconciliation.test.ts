import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { test } from 'tap'
import type { Test } from 'tap'
import { startGoogleEmulator } from '../../emulators/google/app.ts'
import type { UserInput } from '../../emulators/google/state.ts'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { ManualClock } from '../../src/clock.ts'
import { grantHashOf } from '../../src/gmail/grant-lock.ts'
import type { ReconcileReport } from '../../src/gmail/vault-reconciliation.ts'
import type { GmailTokenBundle } from '../../src/vault/index.ts'
import { signUp } from '../helper.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { ALICE, BOB, buildGmailApp, connectWithTokens, FOREIGN_IOS, GMAIL_READONLY, IOS, WEB } from './helpers.ts'
import type { GmailTestContext } from './helpers.ts'
import { gql } from '../helper.ts'
import { GmailStatusDocument } from '../support/generated/graphql.ts'
import { custodyVaultEnv } from '../support/kms.ts'

// docs/security.md item 41: `npm run admin -- reconcile-vault` against real components: Secrets Manager (moto),
// the Google emulator (it records revocations), PGlite, or PostgreSQL with TEST_DATABASE_URL (then the race below
// runs on two database connections).

const moto = await startMoto()
t.teardown(() => moto.stop())
useMotoEnv(t, moto)

const CAROL = { sub: '100000000000000000003', email: 'carol@gmail.example', name: 'Carol' } satisfies UserInput
const DAVE = { sub: '100000000000000000004', email: 'dave@gmail.example', name: 'Dave' } satisfies UserInput
const onPostgres = (process.env.TEST_DATABASE_URL ?? '') !== ''

async function reconcileApp (t: Test): Promise<GmailTestContext> {
  const clock = new ManualClock()
  const google = await startGoogleEmulator({ clients: [WEB, IOS, FOREIGN_IOS], users: [ALICE, BOB, CAROL, DAVE], clock })
  t.teardown(() => google.close())
  // Each test its own prefix: moto is shared by the file.
  return await buildGmailApp(t, { google, clock, env: { ...await custodyVaultEnv(), TOKEN_VAULT_PREFIX: `t${randomUUID().slice(0, 8)}/gmail/user/`, GOOGLE_TIMEOUT_MS: '10000' } })
}

/** A grant Google issued (live at the emulator) that the vault holds for `userId`, with no connect behind it. */
async function plantSecret (ctx: GmailTestContext, userId: string, user: { sub: string, email: string }): Promise<GmailTokenBundle> {
  const g = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: user.email, scopes: [GMAIL_READONLY] })
  const bundle: GmailTokenBundle = {
    version: 1,
    accessToken: g.accessToken,
    refreshToken: g.refreshToken,
    expiryDate: Date.now() + 3_000_000,
    scope: g.grantedScopes,
    clientId: IOS.id,
    googleSub: user.sub,
    email: user.email,
    obtainedAt: Date.now()
  }
  await ctx.app.vault.put(userId, bundle)
  return bundle
}

const liveAt = (ctx: GmailTestContext, user: { email: string }) =>
  ctx.google.state.grantsOf({ user: user.email, clientId: IOS.id }).flatMap((g) => g.refreshTokens).length

const reconcile = async (ctx: GmailTestContext) => await runAdminCommand(ctx.app, ['reconcile-vault']) as ReconcileReport

test('orphaned secrets are revoked at Google and deleted, ACTIVE rows without a secret become RECONNECT_REQUIRED', async (t) => {
  const ctx = await reconcileApp(t)
  const healthy = ctx.user.id
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)

  const noRow = (await signUp(ctx.app)).user.id
  const planted = await plantSecret(ctx, noRow, BOB)
  const gone = randomUUID() // a user row that disappeared (operator, restore) but whose secret stayed
  await plantSecret(ctx, gone, CAROL)
  const lost = await signUp(ctx.app)
  t.equal((await connectWithTokens(ctx, DAVE, lost.accessToken)).errors, undefined)
  await ctx.app.vault.delete(lost.user.id)
  t.ok(liveAt(ctx, BOB) > 0 && liveAt(ctx, CAROL) > 0, 'the orphans are live grants at Google')

  const report = await reconcile(ctx)
  t.match(report, {
    secretsListed: 3,
    unidentifiedSecrets: 0,
    activeRowsChecked: 2,
    counts: { revokedAndDeleted: 2, markedReconnectRequired: 1, rowsUpdated: 0, failed: 0, unchanged: 1 }
  })
  t.same(report.users, {
    [noRow]: { action: 'REVOKED_AND_DELETED', reason: 'NO_ROW', rowMarkedReconnectRequired: false },
    [gone]: { action: 'REVOKED_AND_DELETED', reason: 'USER_GONE', rowMarkedReconnectRequired: false },
    [lost.user.id]: { action: 'MARKED_RECONNECT_REQUIRED', reason: 'VAULT_SECRET_MISSING' }
  })
  t.equal(liveAt(ctx, BOB), 0, 'revoked at Google')
  t.equal(liveAt(ctx, CAROL), 0, 'revoked at Google')
  t.equal(await ctx.app.vault.get(noRow), null, 'and deleted')
  t.equal(await ctx.app.vault.get(gone), null)
  t.same((await ctx.app.vault.list()).userIds, [healthy])
  t.ok(liveAt(ctx, ALICE) > 0, 'the healthy grant is left alone')
  t.equal((await ctx.app.vault.get(healthy))?.googleSub, ALICE.sub)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: lost.accessToken })).data?.gmailStatus.state, 'RECONNECT_REQUIRED')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: lost.user.id, type: 'GMAIL_RECONNECT_REQUIRED' } }), 1, 'the user\'s log says so')

  const printed = JSON.stringify(report)
  t.notOk(printed.includes(planted.refreshToken) || printed.includes(planted.accessToken) || printed.includes('1//') || printed.includes('ya29.'), 'never a token')

  const again = await reconcile(ctx)
  t.match(again, { secretsListed: 1, activeRowsChecked: 1, counts: { revokedAndDeleted: 0, markedReconnectRequired: 0, failed: 0, unchanged: 1 } })
  t.same(again.users, {}, 'a second run has nothing to do')
})

test('a secret that is not the live connection\'s grant: rows not ACTIVE, another Google account, a user being deleted', async (t) => {
  const ctx = await reconcileApp(t)
  // Not ACTIVE: the refresh found the grant dead; a secret there now is no connection's.
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  await ctx.app.prisma.gmailConnection.update({ where: { userId: ctx.user.id }, data: { state: 'RECONNECT_REQUIRED', stateReason: 'INVALID_GRANT' } })
  // Another Google account than the ACTIVE row's.
  const other = await signUp(ctx.app)
  t.equal((await connectWithTokens(ctx, BOB, other.accessToken)).errors, undefined)
  await plantSecret(ctx, other.user.id, CAROL)
  // Same Google account, another refresh token than the row names (the row's write was lost): kept, row caught up.
  const behind = await signUp(ctx.app)
  t.equal((await connectWithTokens(ctx, DAVE, behind.accessToken)).errors, undefined)
  const newer = await plantSecret(ctx, behind.user.id, DAVE)

  const report = await reconcile(ctx)
  t.same(report.users, {
    [ctx.user.id]: { action: 'REVOKED_AND_DELETED', reason: 'ROW_NOT_ACTIVE', rowMarkedReconnectRequired: false },
    [other.user.id]: { action: 'REVOKED_AND_DELETED', reason: 'OTHER_GOOGLE_ACCOUNT', rowMarkedReconnectRequired: true },
    [behind.user.id]: { action: 'ROW_UPDATED', reason: 'GRANT_HASH_MISMATCH' }
  })
  t.equal(liveAt(ctx, ALICE), 0)
  t.equal(liveAt(ctx, CAROL), 0)
  t.equal((await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: other.user.id } })).state, 'RECONNECT_REQUIRED', 'the ACTIVE row has no secret now')
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: behind.user.id } })
  t.equal(row.grantHash, grantHashOf(newer.refreshToken), 'the row names the grant the vault holds')
  t.equal(row.state, 'ACTIVE')
  t.ok(liveAt(ctx, DAVE) > 0, 'and that grant is not revoked')
  t.equal(await ctx.app.gmailConnections.refreshNow(behind.user.id), (await ctx.app.vault.get(behind.user.id))?.accessToken, 'it still refreshes')

  // A user being deleted: the grant goes whatever the row says.
  const leaving = await signUp(ctx.app)
  t.equal((await connectWithTokens(ctx, ALICE, leaving.accessToken)).errors, undefined)
  await ctx.app.accountDeletion.request(leaving.user.id, 'operator')
  t.same((await reconcile(ctx)).users, { [leaving.user.id]: { action: 'REVOKED_AND_DELETED', reason: 'USER_BEING_DELETED', rowMarkedReconnectRequired: true } })
  t.equal(liveAt(ctx, ALICE), 0)
})

test('Google down: the secret is kept and reported FAILED, the rest goes on; the next run revokes it', async (t) => {
  const ctx = await reconcileApp(t)
  const [a, b] = [(await signUp(ctx.app)).user.id, (await signUp(ctx.app)).user.id].sort() as [string, string]
  await plantSecret(ctx, a, BOB)
  await plantSecret(ctx, b, CAROL)
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  await ctx.app.vault.delete(ctx.user.id)
  ctx.google.state.addFault({ endpoint: 'revoke', kind: 'http5xx', status: 503 })

  const report = await reconcile(ctx)
  t.same(report.users[a], { action: 'FAILED', reason: 'NO_ROW', error: 'GOOGLE_UNAVAILABLE' })
  t.same(report.users[b], { action: 'FAILED', reason: 'NO_ROW', error: 'GOOGLE_UNAVAILABLE' })
  t.match(report.users[ctx.user.id], { action: 'MARKED_RECONNECT_REQUIRED' }, 'the outage stopped nothing else')
  t.match(report.counts, { failed: 2, revokedAndDeleted: 0, markedReconnectRequired: 1 })
  t.ok(await ctx.app.vault.get(a), 'not revoked, so not deleted: the next run retries')
  t.ok(await ctx.app.vault.get(b))
  t.ok(liveAt(ctx, BOB) > 0 && liveAt(ctx, CAROL) > 0)

  ctx.google.state.clearFaults()
  t.same((await reconcile(ctx)).users, {
    [a]: { action: 'REVOKED_AND_DELETED', reason: 'NO_ROW', rowMarkedReconnectRequired: false },
    [b]: { action: 'REVOKED_AND_DELETED', reason: 'NO_ROW', rowMarkedReconnectRequired: false }
  })
  t.equal(liveAt(ctx, BOB), 0)
  t.equal(liveAt(ctx, CAROL), 0)
  t.same((await ctx.app.vault.list()).userIds, [])
})

test('a connectGmail landing while reconcile runs is not undone', async (t) => {
  const ctx = await reconcileApp(t)
  const s1 = await signUp(ctx.app)
  const s2 = await signUp(ctx.app)
  const [first, second] = s1.user.id < s2.user.id ? [s1, s2] : [s2, s1]
  // Both listed as orphans (a secret, no row). Google holds the first one's revoke (inside its grant lock) while
  // the second user connects Gmail, between the listing and the second user's turn.
  await plantSecret(ctx, first.user.id, BOB)
  await plantSecret(ctx, second.user.id, CAROL)
  ctx.google.state.resetStats()
  ctx.google.state.addFault({ endpoint: 'revoke', kind: 'delay', delayMs: 2500, times: 1 })
  const reconciling = reconcile(ctx)
  const deadline = Date.now() + 30_000
  while (ctx.google.state.stats().faultsInjected < 1) {
    if (Date.now() > deadline) throw new Error('reconcile never reached Google')
    await sleep(10)
  }
  const connected = await connectWithTokens(ctx, DAVE, second.accessToken)
  t.equal(connected.errors, undefined)
  const report = await reconciling

  t.match(report.users[first.user.id], { action: 'REVOKED_AND_DELETED', reason: 'NO_ROW' })
  t.equal(liveAt(ctx, BOB), 0)
  // On PostgreSQL the connect ran on its own connection while the first revoke was held: it landed before the
  // second user's turn, which then found a live connection. (PGlite has one connection: the connect may come after.)
  if (onPostgres) t.equal(report.users[second.user.id], undefined, 'the second user was re-checked under the lock and kept')
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: second.user.id } })
  const held = await ctx.app.vault.get(second.user.id)
  t.equal(row.state, 'ACTIVE', 'the connection is ACTIVE')
  t.equal(held?.googleSub, DAVE.sub, 'the vault holds the connected grant')
  t.equal(row.grantHash, grantHashOf(held?.refreshToken ?? ''))
  t.ok(liveAt(ctx, DAVE) > 0, 'not revoked at Google')
  t.equal(await ctx.app.gmailConnections.refreshNow(second.user.id), (await ctx.app.vault.get(second.user.id))?.accessToken, 'and it serves tokens')
})

t.end()
