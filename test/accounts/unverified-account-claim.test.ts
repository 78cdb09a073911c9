import { test } from 'tap'
import { BOB, buildGmailApp, connectWithTokens, IOS } from '../gmail/helpers.ts'
import { gql, PASSWORD, signUp } from '../helper.ts'
import {
  LinkGoogleDocument, LoginDocument, MeDocument, RefreshDocument, RequestPasswordResetDocument, ResetPasswordDocument, SignInWithGoogleDocument
} from '../support/generated/graphql.ts'
import { startCatcher, tokenOf } from '../support/mail.ts'

// docs/security.md item 44: account pre-hijacking closed (Sudhodanan & Paverd, USENIX Security 2022).

/** The attacker's own Google account, which they link to the account they registered with the victim's address. */
const MALLORY = { sub: '100000000000000000666', email: 'mallory@attacker.example', name: 'Mallory' }

test('a squatter\'s account is taken over by the verified Google owner of the address; the squatter loses every way in', async (t) => {
  const ctx = await buildGmailApp(t)
  ctx.google.state.upsertUser(MALLORY)
  // The squatter registers the victim's address first, signs in on two devices, links and connects their own Google.
  const squatter = await signUp(ctx.app, 'NATIVE', BOB.email)
  const second = (await gql(ctx.app, LoginDocument, { input: { email: BOB.email, password: PASSWORD, client: 'NATIVE' } })).data!.login
  const malloryId = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: MALLORY.email }).idToken
  t.equal((await gql(ctx.app, LinkGoogleDocument, { idToken: malloryId }, { token: squatter.accessToken })).data?.linkGoogle.hasGoogle, true)
  t.equal((await connectWithTokens(ctx, MALLORY, squatter.accessToken)).errors, undefined, 'the squatter connected their own Gmail')
  await ctx.app.emailTokens.mint(squatter.user.id, 'VERIFY_EMAIL', BOB.email, 3600)

  // The owner signs in with Google (email verified there): the account is theirs, not ACCOUNT_EXISTS.
  const owner = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: BOB.email }).idToken })
  t.equal(owner.errors, undefined)
  t.match(owner.data?.signInWithGoogle.user, { id: squatter.user.id, email: BOB.email, hasPassword: false, hasGoogle: true })
  const row = await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: squatter.user.id } })
  t.match(row, { emailVerified: true, googleSub: BOB.sub, passwordHash: null, name: BOB.name })

  for (const [name, s] of [['first device', squatter], ['second device', second]] as const) {
    t.equal((await gql(ctx.app, MeDocument, {}, { token: s.accessToken })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', `${name}: access token dead`)
    t.equal((await gql(ctx.app, RefreshDocument, { refreshToken: s.refreshToken!, client: 'NATIVE' })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', `${name}: refresh token dead`)
  }
  t.equal((await gql(ctx.app, LoginDocument, { input: { email: BOB.email, password: PASSWORD } })).errors?.[0]?.extensions.reason, 'INVALID_CREDENTIALS', 'the squatter\'s password is gone')
  const viaMallory = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: MALLORY.email }).idToken })
  t.not(viaMallory.data?.signInWithGoogle.user.id, squatter.user.id, 'the squatter\'s Google account no longer reaches it')
  t.equal(await ctx.app.prisma.emailToken.count({ where: { userId: squatter.user.id } }), 0, 'pending tokens void')
  t.equal(await ctx.app.prisma.mailOutbox.count({ where: { userId: squatter.user.id } }), 0, 'queued mail dropped')
  t.equal(await ctx.app.prisma.gmailConnection.count({ where: { userId: squatter.user.id } }), 0, 'the squatter\'s Gmail grant is not handed to the owner')

  t.match(await ctx.app.prisma.securityEvent.findFirst({ where: { type: 'UNVERIFIED_ACCESS_REMOVED', userId: squatter.user.id } }), {
    detail: { method: 'google', passwordRemoved: true, googleUnlinked: true, sessionsRevoked: 2, tokensVoided: 1, gmailDisconnected: true }
  })
  t.match(await ctx.app.prisma.securityEvent.findFirst({ where: { type: 'ACCOUNT_CLAIMED_BY_VERIFIED_OWNER', userId: squatter.user.id } }), { detail: { method: 'google' } })
})

test('a verified account keeps today\'s rule: ACCOUNT_EXISTS, nothing removed', async (t) => {
  const ctx = await buildGmailApp(t)
  const holder = await signUp(ctx.app, 'NATIVE', BOB.email)
  await ctx.app.prisma.user.update({ where: { id: holder.user.id }, data: { emailVerified: true } })
  const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: BOB.email }).idToken })
  t.equal(res.errors?.[0]?.extensions.reason, 'ACCOUNT_EXISTS')
  t.equal((await gql(ctx.app, MeDocument, {}, { token: holder.accessToken })).errors, undefined, 'the holder\'s session lives')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'UNVERIFIED_ACCESS_REMOVED' } }), 0)
})

test('a password reset through the mailed link claims an unverified account the same way', async (t) => {
  const catcher = await startCatcher(t)
  const ctx = await buildGmailApp(t, { env: { SMTP_URL: catcher.smtpUrl } })
  ctx.google.state.upsertUser(MALLORY)
  const squatter = await signUp(ctx.app, 'NATIVE', BOB.email)
  const malloryId = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: MALLORY.email }).idToken
  await gql(ctx.app, LinkGoogleDocument, { idToken: malloryId }, { token: squatter.accessToken })

  await gql(ctx.app, RequestPasswordResetDocument, { email: BOB.email })
  await ctx.app.mailOutbox.drain()
  const mail = catcher.messages.find((m) => m.to.includes(BOB.email) && /Reset/.test(m.subject))!
  const reset = await gql(ctx.app, ResetPasswordDocument, { token: tokenOf(mail), newPassword: 'the owner\'s own passphrase', client: 'NATIVE' })
  t.equal(reset.errors, undefined)
  t.match(reset.data?.resetPassword.user, { id: squatter.user.id, hasPassword: true, hasGoogle: false })
  t.equal((await gql(ctx.app, MeDocument, {}, { token: squatter.accessToken })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  t.not((await gql(ctx.app, SignInWithGoogleDocument, { idToken: malloryId })).data?.signInWithGoogle.user.id, squatter.user.id)
  t.match(await ctx.app.prisma.securityEvent.findFirst({ where: { type: 'UNVERIFIED_ACCESS_REMOVED' } }), { detail: { method: 'password_reset', googleUnlinked: true, passwordRemoved: true } })
})
