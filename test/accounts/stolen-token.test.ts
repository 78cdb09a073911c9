import { test } from 'tap'
import { ALICE, BOB, buildGmailApp, CONNECT, connectWithTokens, IOS, iosSignIn, STATUS } from '../gmail/helpers.ts'
import { gql, gqlData, ME, PASSWORD } from '../helper.ts'
import { LogoutDocument, MeDocument, SignInWithGoogleDocument } from '../support/generated/graphql.ts'
import { DELETE, errorOf, EVENTS, LINK, login, LOGOUT, UNLINK } from './helpers.ts'

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
  const changed = await gql(ctx.app, 'mutation($input: ChangePasswordInput!) { changePassword(input: $input, client: NATIVE) { accessToken } }',
    { input: { currentPassword: PASSWORD, newPassword: 'another horse battery staple' } }, { token: fresh.accessToken })
  t.equal(changed.errors, undefined)

  // The attacker, with the stolen (unexpired, correctly signed) token and their own Google account:
  const attackerGoogle = iosSignIn(ctx, BOB)
  const attempts: Array<[string, string, Record<string, unknown>]> = [
    ['me', ME, {}],
    ['linkGoogle', LINK, { idToken: attackerGoogle.idToken }],
    ['linkGoogle with a guessed password', LINK, { idToken: attackerGoogle.idToken, password: PASSWORD }],
    ['unlinkGoogle', UNLINK, {}],
    ['deleteAccount', DELETE, {}],
    ['connectGmail (swap the mailbox)', CONNECT, { input: { accessToken: attackerGoogle.accessToken, refreshToken: attackerGoogle.refreshToken, idToken: attackerGoogle.idToken } }],
    ['disconnectGmail', 'mutation { disconnectGmail { state } }', {}],
    ['gmailStatus', STATUS, {}],
    ['gmailProfile', 'query { gmailProfile { emailAddress } }', {}],
    ['securityEvents', EVENTS, {}],
    ['sessions', 'query { sessions { id } }', {}],
    ['changePassword', 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }', { input: { currentPassword: PASSWORD, newPassword: 'attacker horse battery staple' } }],
    ['logout', LOGOUT, {}]
  ]
  for (const [name, query, variables] of attempts) {
    const res = await gql(ctx.app, query, variables, { token: stolen })
    t.match(errorOf(res), { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' }, name)
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
  await gql(ctx.app, 'mutation($id: ID!) { revokeSession(id: $id) }', { id: b.sessionId }, { token: c.accessToken })
  t.match(await meWith(b.accessToken), { reason: 'SESSION_REVOKED' }, 'revokeSession')
  t.equal(await meWith(c.accessToken), undefined, 'the other session lives on')

  const changed = await gql(ctx.app, 'mutation($input: ChangePasswordInput!) { changePassword(input: $input, client: NATIVE) { accessToken } }',
    { input: { currentPassword: PASSWORD, newPassword: 'another horse battery staple' } }, { token: c.accessToken })
  t.match(await meWith(c.accessToken), { reason: 'SESSION_REVOKED' }, 'changePassword ends the other sessions')
  t.equal(await meWith(changed.data.changePassword.accessToken), undefined, 'and keeps the new one')

  // Session expired (idle): the clock moves past the idle timeout.
  ctx.clock.advance(8 * 24 * 3600 * 1000)
  t.match(await meWith(changed.data.changePassword.accessToken), { code: 'UNAUTHENTICATED', reason: 'SESSION_EXPIRED' }, 'idle session')
})

test('an operator disable answers FORBIDDEN USER_DISABLED at once', async (t) => {
  const ctx = await buildGmailApp(t)
  await ctx.app.users.disable(ctx.user.id)
  t.match(errorOf(await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })), { code: 'FORBIDDEN', reason: 'USER_DISABLED' })
  t.match(errorOf(await gql(ctx.app, STATUS, {}, { token: ctx.user.accessToken })), { code: 'FORBIDDEN', reason: 'USER_DISABLED' })
})

test('me is served from the live-session read and never carries the password hash', async (t) => {
  const ctx = await buildGmailApp(t)
  const res = await gql(ctx.app, 'query { me { id email hasPassword hasGoogle createdAt } }', {}, { token: ctx.user.accessToken })
  t.match(res.data?.me, { id: ctx.user.id, hasPassword: true, hasGoogle: false })
  const { passwordHash } = await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } })
  t.notOk(JSON.stringify(res.response.json()).includes(passwordHash!.slice(-20)))
})
