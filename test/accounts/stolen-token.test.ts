import { test } from 'tap'
import { ALICE, BOB, buildGmailApp, connectWithTokens, IOS, iosSignIn } from '../gmail/helpers.ts'
import { gql, gqlData, PASSWORD } from '../helper.ts'
import type { GqlResult } from '../helper.ts'
import {
  ChangePasswordDocument, ConnectGmailDocument, DeleteAccountDocument, DisconnectGmailDocument, GmailProfileDocument, GmailStatusDocument,
  LinkGoogleDocument, LogoutDocument, MeDocument, RevokeSessionDocument, SecurityEventsDocument, SessionsDocument, SignInWithGoogleDocument,
  UnlinkGoogleDocument
} from '../support/generated/graphql.ts'
import { errorOf, login } from './helpers.ts'

// Issue 10: an access token stolen from a victim must not outlive a logout, nor take the account over.

test('the attack end to end: stolen token → logout everywhere → every sensitive operation refused', async (t) => {
  const ctx = await buildGmailApp(t)
  const victim = await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })
  t.equal(victim.errors, undefined)
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined, 'the victim connects their Gmail')
  const stolen = ctx.user.accessToken

  // The victim notices, logs out everywhere from another device and changes the password.
  const other = await login(ctx.app, victim.data?.me.email ?? '')
  t.equal((await gql(ctx.app, LogoutDocument, { everywhere: true }, { token: other.accessToken })).data?.logout, true)
  const fresh = await login(ctx.app, victim.data?.me.email ?? '')
  const changed = await gql(ctx.app, ChangePasswordDocument,
    { input: { currentPassword: PASSWORD, newPassword: 'another horse battery staple' }, client: 'NATIVE' }, { token: fresh.accessToken })
  t.equal(changed.errors, undefined)

  // The attacker, with the stolen (unexpired, correctly signed) token and their own Google account:
  const attackerGoogle = iosSignIn(ctx, BOB)
  const as = { token: stolen }
  const attempts: Array<[string, () => Promise<GqlResult<unknown>>]> = [
    ['me', async () => await gql(ctx.app, MeDocument, {}, as)],
    ['linkGoogle', async () => await gql(ctx.app, LinkGoogleDocument, { idToken: attackerGoogle.idToken }, as)],
    ['linkGoogle with a guessed password', async () => await gql(ctx.app, LinkGoogleDocument, { idToken: attackerGoogle.idToken, password: PASSWORD }, as)],
    ['unlinkGoogle', async () => await gql(ctx.app, UnlinkGoogleDocument, {}, as)],
    ['deleteAccount', async () => await gql(ctx.app, DeleteAccountDocument, {}, as)],
    ['connectGmail (swap the mailbox)', async () => await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: attackerGoogle.accessToken, refreshToken: attackerGoogle.refreshToken, idToken: attackerGoogle.idToken } }, as)],
    ['disconnectGmail', async () => await gql(ctx.app, DisconnectGmailDocument, {}, as)],
    ['gmailStatus', async () => await gql(ctx.app, GmailStatusDocument, {}, as)],
    ['gmailProfile', async () => await gql(ctx.app, GmailProfileDocument, {}, as)],
    ['securityEvents', async () => await gql(ctx.app, SecurityEventsDocument, {}, as)],
    ['sessions', async () => await gql(ctx.app, SessionsDocument, {}, as)],
    ['changePassword', async () => await gql(ctx.app, ChangePasswordDocument, { input: { currentPassword: PASSWORD, newPassword: 'attacker horse battery staple' } }, as)],
    ['logout', async () => await gql(ctx.app, LogoutDocument, {}, as)]
  ]
  for (const [name, attempt] of attempts) {
    t.match(errorOf(await attempt()), { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' }, name)
  }

  // Nothing changed: no Google link, the victim's Gmail still held, and the attacker's Google sign-in is theirs alone.
  const row = await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } })
  t.equal(row.googleSub, null, 'no Google account linked')
  t.equal((await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })).googleSub, ALICE.sub, 'Gmail not swapped')
  const attackerSignIn = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: BOB.email }).idToken })
  t.not(attackerSignIn.data?.signInWithGoogle.user.id, ctx.user.id, 'Google sign-in does not reach the victim')
})

test('each way a session ends stops its access token at once', async (t) => {
  const ctx = await buildGmailApp(t)
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  const meWith = async (token: string) => errorOf(await gql(ctx.app, MeDocument, {}, { token }))

  const a = await login(ctx.app, email)
  t.equal(await meWith(a.accessToken), undefined, 'live before')
  await gql(ctx.app, LogoutDocument, {}, { token: a.accessToken })
  t.match(await meWith(a.accessToken), { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' }, 'logout')

  const b = await login(ctx.app, email)
  const c = await login(ctx.app, email)
  await gql(ctx.app, RevokeSessionDocument, { id: b.sessionId }, { token: c.accessToken })
  t.match(await meWith(b.accessToken), { reason: 'SESSION_REVOKED' }, 'revokeSession')
  t.equal(await meWith(c.accessToken), undefined, 'the other session lives on')

  const changed = await gqlData(ctx.app, ChangePasswordDocument,
    { input: { currentPassword: PASSWORD, newPassword: 'another horse battery staple' }, client: 'NATIVE' }, { token: c.accessToken })
  t.match(await meWith(c.accessToken), { reason: 'SESSION_REVOKED' }, 'changePassword ends the other sessions')
  t.equal(await meWith(changed.changePassword.accessToken), undefined, 'and keeps the new one')

  // Session expired (idle): the clock moves past the idle timeout.
  ctx.clock.advance(8 * 24 * 3600 * 1000)
  t.match(await meWith(changed.changePassword.accessToken), { code: 'UNAUTHENTICATED', reason: 'SESSION_EXPIRED' }, 'idle session')
})

test('an operator disable answers FORBIDDEN USER_DISABLED at once', async (t) => {
  const ctx = await buildGmailApp(t)
  await ctx.app.usersService.disable(ctx.user.id)
  t.match(errorOf(await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })), { code: 'FORBIDDEN', reason: 'USER_DISABLED' })
  t.match(errorOf(await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })), { code: 'FORBIDDEN', reason: 'USER_DISABLED' })
})

test('me is served from the live-session read and never carries the password hash', async (t) => {
  const ctx = await buildGmailApp(t)
  const res = await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })
  t.match(res.data?.me, { id: ctx.user.id, hasPassword: true, hasGoogle: false })
  const { passwordHash } = await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } })
  t.notOk(JSON.stringify(res.response.json()).includes(passwordHash!.slice(-20)))
})
