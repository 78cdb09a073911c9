import { setTimeout as sleep } from 'node:timers/promises'
import t, { test } from 'tap'
import type { Test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { ALICE, BOB, buildGmailApp, connectWithTokens, IOS } from '../gmail/helpers.ts'
import type { GmailTestContext } from '../gmail/helpers.ts'
import { gqlData } from '../helper.ts'
import { MeDocument } from '../support/generated/graphql.ts'
import { errorOf } from './helpers.ts'

// docs/security.md item 40: account deletion is a writer of the user's Gmail grant like any other; it takes the
// same per-user grant lock, and a connectGmail racing it leaves no secret, no row and no live grant behind. On
// PGlite by default; with TEST_DATABASE_URL on PostgreSQL, where the connect and the deletion hold two connections.

/** Waits until the emulator has taken `n` faults (a request is being held). */
async function whileGoogleHolds (ctx: GmailTestContext, n: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (ctx.google.state.stats().faultsInjected < n) {
    if (Date.now() > deadline) throw new Error('the request never reached Google')
    await sleep(10)
  }
}

const liveRefreshTokens = (ctx: GmailTestContext, user: { email: string }) =>
  ctx.google.state.grantsOf({ user: user.email, clientId: IOS.id }).flatMap((g) => g.refreshTokens).length

async function assertNothingLeft (t: Test, ctx: GmailTestContext, connected: { errors?: unknown[] }) {
  t.match(errorOf(connected as never), { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' }, 'the connect is refused: the account is gone')
  t.equal(await ctx.app.prisma.user.count({ where: { id: ctx.user.id } }), 0, 'the user is deleted')
  t.equal(await ctx.app.prisma.gmailConnection.count({ where: { userId: ctx.user.id } }), 0, 'no connection row')
  t.equal(await ctx.app.vault.get(ctx.user.id), null, 'no secret left in the vault')
  t.same((await ctx.app.vault.list()).userIds, [], 'nor listed')
  t.equal(liveRefreshTokens(ctx, ALICE), 0, 'no live grant at Google for the account connected before')
  t.equal(liveRefreshTokens(ctx, BOB), 0, 'nor for the one the refused connect brought')
}

test('a connect validated before the deletion and storing after it stores nothing', async (t) => {
  const ctx = await buildGmailApp(t, { env: { GOOGLE_TIMEOUT_MS: '10000' } })
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  ctx.google.state.resetStats()
  // The connect is held at Google's tokeninfo (outside the grant lock) while the operator deletes the account.
  ctx.google.state.addFault({ endpoint: 'tokeninfo', kind: 'delay', delayMs: 2000, times: 1 })
  const connecting = connectWithTokens(ctx, BOB)
  await whileGoogleHolds(ctx, 1)
  t.match(await runAdminCommand(ctx.app, ['delete-user', email]), { deleted: true })
  await assertNothingLeft(t, ctx, await connecting)
})

test('a connect waiting for the grant lock while the deletion revokes finds no user', async (t) => {
  const ctx = await buildGmailApp(t, { env: { GOOGLE_TIMEOUT_MS: '10000' } })
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  ctx.google.state.resetStats()
  // 1. the connect (to another Google account) is past authentication, held at Google for 1 s;
  // 2. the deletion takes the grant lock and Google holds its revoke for 3 s: the connect comes to the lock meanwhile.
  ctx.google.state.addFault({ endpoint: 'tokeninfo', kind: 'delay', delayMs: 1000, times: 1 })
  const connecting = connectWithTokens(ctx, BOB)
  await whileGoogleHolds(ctx, 1)
  ctx.google.state.addFault({ endpoint: 'revoke', kind: 'delay', delayMs: 3000, times: 1 })
  const deleting = runAdminCommand(ctx.app, ['delete-user', email])
  const connected = await connecting
  t.match(await deleting, { deleted: true, gmailGrantRevoked: true })
  t.equal(ctx.google.state.stats().faultsInjected, 2, 'the revoke was held, with the connect waiting')
  await assertNothingLeft(t, ctx, connected)
})

t.end()
