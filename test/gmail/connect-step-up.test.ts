import { test } from 'tap'
import { gql, PASSWORD, signUp } from '../helper.ts'
import { ConnectGmailDocument, GmailStatusDocument } from '../support/generated/graphql.ts'
import { ALICE, BOB, buildGmailApp, connectWithTokens, iosSignIn, IOS } from './helpers.ts'
import type { GmailTestContext } from './helpers.ts'
import type { UserInput } from '../../emulators/google/state.ts'

// Issue 21 item 4 (docs/security.md item 61): an access token proves a session, not the person. One stolen after the
// sign-in went stale must not replace the held mailbox with another Google account (the old grant would be revoked,
// the attacker's mailbox read in its place). The step-up is linkGoogle's rule: a recent sign-in, or the password.
// REAUTH_MAX_AGE_SECONDS is 60 here, as in test/accounts/step-up.test.ts (ID tokens are checked on the wall clock).

const env = { REAUTH_MAX_AGE_SECONDS: '60' }
const STALE_MS = 61_000

/** Connects `user`'s grant from the iOS app, optionally with the password; no ID token (the clock has moved). */
async function connect (ctx: GmailTestContext, user: UserInput, password?: string) {
  const g = iosSignIn(ctx, user)
  const res = await gql(ctx.app, ConnectGmailDocument, {
    input: { accessToken: g.accessToken, refreshToken: g.refreshToken, ...(password != null ? { password } : {}) }
  }, { token: ctx.user.accessToken })
  return { res, handed: g.refreshToken }
}

/** Whether Google still honours this refresh token (a revoked grant takes all its tokens along). */
const live = (ctx: GmailTestContext, user: UserInput, refreshToken: string) =>
  ctx.google.state.grantsOf({ user: user.email!, clientId: IOS.id }).some((g) => g.refreshTokens.includes(refreshToken))

test('a stolen access token (sign-in too old) cannot switch the mailbox: REAUTH_REQUIRED, the held grant stays, the handed one is revoked', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  const first = await connect(ctx, ALICE)
  t.equal(first.res.errors, undefined)
  const heldBefore = await ctx.app.vault.get(ctx.user.id)
  ctx.clock.advance(STALE_MS)

  const stolen = await connect(ctx, BOB)
  t.equal(stolen.res.errors?.[0]?.extensions.code, 'REAUTH_REQUIRED')
  t.equal(stolen.res.errors?.[0]?.extensions.reason, 'SIGN_IN_TOO_OLD')
  t.equal(stolen.res.errors?.[0]?.extensions.maxAgeSeconds, 60)
  t.same(await ctx.app.vault.get(ctx.user.id), heldBefore, 'the vault holds the same grant')
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.ok(live(ctx, ALICE, first.handed), 'the held grant is alive at Google')
  t.notOk(live(ctx, BOB, stolen.handed), 'the grant handed in is revoked at Google')
  t.match(ctx.google.state.revocations({ user: BOB.email }), [{ clientId: IOS.id, by: 'token' }])
  t.same(ctx.google.state.revocations({ user: ALICE.email }), [], 'nothing of the held account revoked')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GMAIL_ACCOUNT_SWITCHED' } }), 0)
  const failed = await ctx.app.prisma.securityEvent.findMany({ where: { userId: ctx.user.id, type: 'REAUTH_FAILED' } })
  t.match(failed, [{ detail: { operation: 'connectGmail', reason: 'SIGN_IN_TOO_OLD' } }])

  // A wrong password: the same refusal, still nothing changed.
  const guessed = await connect(ctx, BOB, 'not the password at all')
  t.equal(guessed.res.errors?.[0]?.extensions.code, 'REAUTH_REQUIRED')
  t.equal(guessed.res.errors?.[0]?.extensions.reason, 'PASSWORD_INCORRECT')
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.ok(live(ctx, ALICE, first.handed))
  t.notOk(live(ctx, BOB, guessed.handed))

  // The owner, with the password: switched, and the old grant revoked as before.
  const owner = await connect(ctx, BOB, PASSWORD)
  t.equal(owner.res.errors, undefined)
  t.same(owner.res.data?.connectGmail.warnings.map((w) => w.code), ['ACCOUNT_SWITCHED'])
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: BOB.email })
  t.ok(live(ctx, BOB, owner.handed))
  t.notOk(live(ctx, ALICE, first.handed), 'the previous grant is revoked after the switch')
  const logs = ctx.logs.join('\n')
  t.notOk(logs.includes(PASSWORD), 'the password is not logged')
  t.notOk(logs.includes(owner.handed) || logs.includes(stolen.handed), 'no refresh token is logged')
})

test('a recent sign-in switches without the password; reconnecting the same account and a first connect need no step-up', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  // Recent sign-in: the switch goes through without a password.
  t.equal((await connectWithTokens(ctx, ALICE, ctx.user.accessToken, false)).errors, undefined)
  const switched = await connectWithTokens(ctx, BOB, ctx.user.accessToken, false)
  t.equal(switched.errors, undefined)
  t.same(switched.data?.connectGmail.warnings.map((w) => w.code), ['ACCOUNT_SWITCHED'])

  ctx.clock.advance(STALE_MS)
  // The same Google account again, sign-in stale: no step-up.
  const again = await connect(ctx, BOB)
  t.equal(again.res.errors, undefined)
  t.same(again.res.data?.connectGmail.warnings, [])
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: BOB.email })
  t.ok(live(ctx, BOB, again.handed))

  // A first connect with a stale sign-in: nothing held, nothing to step up for.
  const fresh = await signUp(ctx.app, 'NATIVE')
  ctx.clock.advance(STALE_MS)
  const g = iosSignIn(ctx, ALICE)
  const first = await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, { token: fresh.accessToken })
  t.equal(first.errors, undefined)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: fresh.accessToken })).data?.gmailStatus.googleEmail, ALICE.email)
})
