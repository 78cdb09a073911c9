import { test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { ALICE, buildGmailApp, connectWithTokens, IOS } from '../gmail/helpers.ts'
import { gql, gqlData, PASSWORD } from '../helper.ts'
import { DeleteAccountDocument, LinkGoogleDocument, LoginDocument, MeDocument, SignInWithGoogleDocument, SignUpDocument } from '../support/generated/graphql.ts'
import { errorOf } from './helpers.ts'

// Issue 10, rule 4: deletion revokes the grant, deletes the secret, ends sessions, deletes the data; retry-safe.

const liveRefreshTokens = (ctx: Awaited<ReturnType<typeof buildGmailApp>>) =>
  ctx.google.state.grantsOf({ user: ALICE.email, clientId: IOS.id }).flatMap((g) => g.refreshTokens).length

test('deleteAccount: grant revoked at Google, secret and data gone, email and Google account free again', async (t) => {
  const ctx = await buildGmailApp(t)
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  t.equal((await gql(ctx.app, LinkGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken }, { token: ctx.user.accessToken })).errors, undefined)
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  t.ok(liveRefreshTokens(ctx) > 0)
  await gql(ctx.app, LoginDocument, { input: { email, password: 'a wrong password here' } })
  // A rate-limited login names the email without a user id.
  await ctx.app.auditLog.record('LOGIN_RATE_LIMITED', { ip: '203.0.113.9', detail: { email } })

  const res = await gql(ctx.app, DeleteAccountDocument, {}, { token: ctx.user.accessToken })
  t.equal(res.data?.deleteAccount, true)
  t.equal(liveRefreshTokens(ctx), 0, 'the Gmail grant is revoked at Google')
  t.equal(await ctx.app.vault.get(ctx.user.id), null, 'the vault secret is deleted')
  t.equal(await ctx.app.prisma.user.count({ where: { id: ctx.user.id } }), 0)
  t.equal(await ctx.app.prisma.session.count({ where: { userId: ctx.user.id } }), 0)
  t.equal(await ctx.app.prisma.gmailConnection.count({ where: { userId: ctx.user.id } }), 0)
  t.match(errorOf(await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })), { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' })

  // What the security log keeps: the request and the completion, under the opaque id only.
  const events = await ctx.app.prisma.securityEvent.findMany()
  const mentioning = events.filter((e) => e.userId === ctx.user.id || JSON.stringify(e.detail ?? {}).includes(ctx.user.id) || JSON.stringify(e.detail ?? {}).includes(email))
  t.same(mentioning.map((e) => e.type).sort(), ['ACCOUNT_DELETED', 'ACCOUNT_DELETION_REQUESTED'])
  t.notOk(JSON.stringify(events).includes(email), 'the email is nowhere in the log')

  const again = await gql(ctx.app, SignUpDocument, { input: { email, password: PASSWORD, client: 'NATIVE' } })
  t.equal(again.errors, undefined, 'the email can sign up again')
  const google = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken })
  t.equal(google.errors, undefined, 'the Google account can be used by someone else')
  t.not(google.data?.signInWithGoogle.user.id, ctx.user.id)
})

test('Google down half-way: nothing stays live, the answer says pending, the operator finishes it', async (t) => {
  const ctx = await buildGmailApp(t)
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  ctx.google.state.addFault({ endpoint: 'revoke', kind: 'http5xx', status: 503 })

  const res = await gql(ctx.app, DeleteAccountDocument, { password: PASSWORD }, { token: ctx.user.accessToken })
  t.match(errorOf(res), { code: 'GOOGLE_UNAVAILABLE', reason: 'DELETION_PENDING' })
  t.match(errorOf(await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })), { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' })
  t.match(errorOf(await gql(ctx.app, LoginDocument, { input: { email, password: PASSWORD } })), { code: 'FORBIDDEN' }, 'no new sign-in')
  t.equal(await ctx.app.prisma.session.count({ where: { userId: ctx.user.id, revokedAt: null } }), 0)
  t.ok(await ctx.app.vault.get(ctx.user.id), 'the secret is kept until the grant is revoked (so a retry can revoke it)')
  t.match(await runAdminCommand(ctx.app, ['show-user', email]), { state: 'DELETION_PENDING', sessions: 0 })

  const stillDown = await runAdminCommand(ctx.app, ['delete-user', email])
  t.match(stillDown, { deleted: false, state: 'DELETION_PENDING', error: 'GOOGLE_UNAVAILABLE' }, 'a retry while down is harmless')

  ctx.google.state.clearFaults()
  t.match(await runAdminCommand(ctx.app, ['finish-deletions']), { results: [{ userId: ctx.user.id, done: true }] })
  t.equal(liveRefreshTokens(ctx), 0, 'grant revoked')
  t.equal(await ctx.app.vault.get(ctx.user.id), null)
  t.equal(await ctx.app.prisma.user.count({ where: { id: ctx.user.id } }), 0)
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'ACCOUNT_DELETION_REQUESTED' } }), 1, 'requested once, however many retries')
})
