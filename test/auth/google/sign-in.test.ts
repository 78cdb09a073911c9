import { test } from 'tap'
import { ALICE, BOB, buildGmailApp, FOREIGN_IOS, IOS, WEB } from '../../gmail/helpers.ts'
import { gql, PASSWORD, signUp } from '../../helper.ts'
import { LinkGoogleDocument, LoginDocument, SignInWithGoogleDocument } from '../../support/generated/graphql.ts'

// docs/security.md item 13 (native part): ID tokens verified; users keyed by Google `sub`; no silent takeover.

test('signInWithGoogle finds or creates the user by Google sub', async (t) => {
  const ctx = await buildGmailApp(t)
  const idToken = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken
  const first = await gql(ctx.app, SignInWithGoogleDocument, { idToken })
  t.equal(first.errors, undefined)
  const user = first.data?.signInWithGoogle.user
  t.match(user, { email: ALICE.email, hasPassword: false, hasGoogle: true })
  t.ok(first.data?.signInWithGoogle.refreshToken, 'NATIVE by default: refresh token in the body')

  // Again, with a token minted for the web client (GIDServerClientID): same user.
  const viaServerClient = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email, serverClientId: WEB.id }).idToken
  const second = await gql(ctx.app, SignInWithGoogleDocument, { idToken: viaServerClient })
  t.equal(second.data?.signInWithGoogle.user.id, user?.id, 'same user')
  t.equal(await ctx.app.prisma.user.count({ where: { email: ALICE.email } }), 1)

  // The email changes at Google, the sub does not: still the same user.
  ctx.google.state.upsertUser({ sub: ALICE.sub, email: 'alice.new@gmail.example' })
  const renamed = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.sub }).idToken })
  t.equal(renamed.data?.signInWithGoogle.user.id, user?.id, 'keyed by sub, not email')

  const login = await gql(ctx.app, LoginDocument, { input: { email: ALICE.email, password: PASSWORD } })
  t.equal(login.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'no password login for a Google-only account')
})

test('invalid ID tokens are refused', async (t) => {
  const ctx = await buildGmailApp(t)
  const foreign = ctx.google.state.nativeSignIn({ clientId: FOREIGN_IOS.id, user: ALICE.email }).idToken
  const valid = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken
  const [h, p, s] = valid.split('.')
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString())
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: BOB.sub })).toString('base64url')}.${s}`
  for (const [name, idToken] of [['audience of another app', foreign], ['tampered', tampered], ['garbage', 'not.a.jwt'], ['unsigned', `${h}.${p}.`]] as const) {
    const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken })
    t.equal(res.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', name)
  }
  t.equal(await ctx.app.prisma.user.count({ where: { googleSub: { not: null } } }), 0, 'nothing created')
})

test('a matching email never takes over a verified password account; the owner links explicitly', async (t) => {
  const ctx = await buildGmailApp(t)
  const owner = await signUp(ctx.app, 'NATIVE', BOB.email)
  // Verified (an unverified one is claimed by the Google owner: test/accounts/unverified-account-claim.test.ts).
  await ctx.app.prisma.user.update({ where: { id: owner.user.id }, data: { emailVerified: true } })
  const idToken = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: BOB.email }).idToken
  const refused = await gql(ctx.app, SignInWithGoogleDocument, { idToken })
  t.equal(refused.errors?.[0]?.extensions.code, 'CONFLICT')
  t.equal(refused.errors?.[0]?.extensions.reason, 'ACCOUNT_EXISTS')
  t.equal((await ctx.app.prisma.user.findUniqueOrThrow({ where: { email: BOB.email } })).googleSub, null, 'not linked')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GOOGLE_LINK_REFUSED' } }), 1)

  const linked = await gql(ctx.app, LinkGoogleDocument, { idToken }, { token: owner.accessToken })
  t.equal(linked.data?.linkGoogle.hasGoogle, true)
  const after = await gql(ctx.app, SignInWithGoogleDocument, { idToken })
  t.equal(after.data?.signInWithGoogle.user.email, BOB.email, 'now Google sign-in reaches the linked account')
  t.equal(after.data?.signInWithGoogle.user.hasPassword, true)

  // The same Google account cannot be linked to a second user.
  const other = await signUp(ctx.app, 'NATIVE', 'someone@example.com')
  const steal = await gql(ctx.app, LinkGoogleDocument, { idToken }, { token: other.accessToken })
  t.equal(steal.errors?.[0]?.extensions.code, 'CONFLICT')
  t.equal((await gql(ctx.app, LinkGoogleDocument, { idToken })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'linking needs a session')
})

test('an unverified Google email never links and never creates an account', async (t) => {
  const ctx = await buildGmailApp(t)
  ctx.google.state.upsertUser({ sub: '100000000000000000009', email: 'carol@unverified.example', emailVerified: false })
  await signUp(ctx.app, 'WEB', 'carol@unverified.example')
  const idToken = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: 'carol@unverified.example' }).idToken
  const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken })
  t.equal(res.errors?.[0]?.extensions.code, 'FORBIDDEN')
  t.equal(res.errors?.[0]?.extensions.reason, 'GOOGLE_EMAIL_UNVERIFIED')
  t.equal((await ctx.app.prisma.user.findUniqueOrThrow({ where: { email: 'carol@unverified.example' } })).googleSub, null)
})
