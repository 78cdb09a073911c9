import { test } from 'tap'
import { ALICE, buildGmailApp, IOS } from '../../gmail/helpers.ts'
import { gql } from '../../helper.ts'
import { SignInWithGoogleDocument } from '../../support/generated/graphql.ts'

// docs/security.md item 13: a new Google account signing in twice at once (a double tap, the app retrying while the
// first request is still in flight) gets one user and two sessions. Before, the request that lost the insert race
// was refused as CONFLICT/ACCOUNT_EXISTS — the account it "conflicted" with was its own.

test('concurrent first sign-ins of one new Google account: one user, every request signed in', async (t) => {
  const ctx = await buildGmailApp(t)
  const tokens = Array.from({ length: 4 }, () => ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken)
  const answers = await Promise.all(tokens.map(async (idToken) => await gql(ctx.app, SignInWithGoogleDocument, { idToken })))
  for (const [i, res] of answers.entries()) t.equal(res.errors, undefined, `request ${i} signed in: ${JSON.stringify(res.errors?.[0]?.extensions)}`)
  const ids = new Set(answers.map((res) => res.data?.signInWithGoogle.user.id))
  t.equal(ids.size, 1, 'all four answers name the same user')
  t.equal(await ctx.app.prisma.user.count({ where: { email: ALICE.email } }), 1, 'one user row')
  t.equal(await ctx.app.prisma.session.count({ where: { userId: [...ids][0] } }), 4, 'four sessions')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'SIGN_UP', userId: [...ids][0] } }), 1, 'one SIGN_UP event')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GOOGLE_LINK_REFUSED' } }), 0, 'nothing refused')
})
