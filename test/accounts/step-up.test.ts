import { test } from 'tap'
import { ALICE, BOB, buildGmailApp, IOS } from '../gmail/helpers.ts'
import { gql, PASSWORD, signUp } from '../helper.ts'
import { DeleteAccountDocument, LinkGoogleDocument, RefreshDocument, SignInWithGoogleDocument, UnlinkGoogleDocument } from '../support/generated/graphql.ts'
import { claimsOf, errorOf } from './helpers.ts'

// Issue 10, rule 2 and 3: recent authentication for linking, unlinking and deleting; linking rules.
// REAUTH_MAX_AGE_SECONDS is 60 here: google-auth-library checks ID tokens against the wall clock (300 s skew),
// so the shared manual clock must not move past that.
const env = { REAUTH_MAX_AGE_SECONDS: '60' }
const idTokenOf = (ctx: Awaited<ReturnType<typeof buildGmailApp>>, email: string) => ctx.google.state.nativeSignIn({ clientId: IOS.id, user: email }).idToken

test('access tokens carry auth_time, kept across refreshes', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  const s = await signUp(ctx.app, 'NATIVE')
  const signedInAt = claimsOf(s.accessToken).auth_time as number
  t.equal(signedInAt, Math.floor(ctx.clock.now().getTime() / 1000))
  ctx.clock.advance(61_000)
  const refreshed = await gql(ctx.app, RefreshDocument, { refreshToken: s.refreshToken, client: 'NATIVE' })
  t.equal(claimsOf(refreshed.data?.refresh.accessToken ?? '').auth_time, signedInAt, 'a refresh is not a sign-in')
  t.ok((claimsOf(refreshed.data?.refresh.accessToken ?? '').iat as number) > signedInAt)
})

test('linkGoogle: recent sign-in, or the password; failures are security events', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  const idToken = idTokenOf(ctx, ALICE.email)
  ctx.clock.advance(61_000)
  const stale = await gql(ctx.app, LinkGoogleDocument, { idToken }, { token: ctx.user.accessToken })
  t.match(errorOf(stale), { code: 'REAUTH_REQUIRED', reason: 'SIGN_IN_TOO_OLD', maxAgeSeconds: 60 })
  const wrong = await gql(ctx.app, LinkGoogleDocument, { idToken, password: 'not the password at all' }, { token: ctx.user.accessToken })
  t.match(errorOf(wrong), { code: 'REAUTH_REQUIRED', reason: 'PASSWORD_INCORRECT' })
  const failures = await ctx.app.prisma.securityEvent.findMany({ where: { userId: ctx.user.id, type: 'REAUTH_FAILED' } })
  t.same(failures.map((e) => (e.detail as { reason: string }).reason).sort(), ['PASSWORD_INCORRECT', 'SIGN_IN_TOO_OLD'])
  t.equal((await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } })).googleSub, null, 'nothing linked')

  const ok = await gql(ctx.app, LinkGoogleDocument, { idToken, password: PASSWORD }, { token: ctx.user.accessToken })
  t.equal(ok.data?.linkGoogle.hasGoogle, true, 'the current password is a step-up')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: ctx.user.id, type: 'GOOGLE_LINKED' } }), 1)
})

test('linkGoogle within the window; another Google account is refused until unlinked', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  const linked = await gql(ctx.app, LinkGoogleDocument, { idToken: idTokenOf(ctx, ALICE.email) }, { token: ctx.user.accessToken })
  t.equal(linked.data?.linkGoogle.hasGoogle, true, 'a fresh sign-in needs no password')
  const again = await gql(ctx.app, LinkGoogleDocument, { idToken: idTokenOf(ctx, ALICE.email) }, { token: ctx.user.accessToken })
  t.equal(again.errors, undefined, 'the same Google account again is a no-op')

  const second = await gql(ctx.app, LinkGoogleDocument, { idToken: idTokenOf(ctx, BOB.email) }, { token: ctx.user.accessToken })
  t.match(errorOf(second), { code: 'CONFLICT', reason: 'GOOGLE_ALREADY_LINKED' })
  t.equal((await ctx.app.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } })).googleSub, ALICE.sub, 'unchanged')

  const unlinked = await gql(ctx.app, UnlinkGoogleDocument, {}, { token: ctx.user.accessToken })
  t.match(unlinked.data?.unlinkGoogle, { hasGoogle: false, hasPassword: true })
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { userId: ctx.user.id, type: 'GOOGLE_UNLINKED' } }), 1)
  const refusedSignIn = await gql(ctx.app, SignInWithGoogleDocument, { idToken: idTokenOf(ctx, ALICE.email) })
  t.not(refusedSignIn.data?.signInWithGoogle?.user.id, ctx.user.id, 'Google sign-in no longer reaches the account')
  const bob = await gql(ctx.app, LinkGoogleDocument, { idToken: idTokenOf(ctx, BOB.email) }, { token: ctx.user.accessToken })
  t.equal(bob.data?.linkGoogle.hasGoogle, true, 'after unlinking, another one can be linked')
})

test('unlinkGoogle: step-up, and refused for an account without a password', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  await gql(ctx.app, LinkGoogleDocument, { idToken: idTokenOf(ctx, ALICE.email) }, { token: ctx.user.accessToken })
  // Minted before the test clock moves: the emulator dates tokens by that clock, and an `iat` more than the clock
  // skew ahead of the wall clock is refused (docs/security.md item 13a).
  const bobIdToken = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: BOB.email }).idToken
  ctx.clock.advance(61_000)
  t.match(errorOf(await gql(ctx.app, UnlinkGoogleDocument, {}, { token: ctx.user.accessToken })), { code: 'REAUTH_REQUIRED', reason: 'SIGN_IN_TOO_OLD' })
  t.equal((await gql(ctx.app, UnlinkGoogleDocument, { password: PASSWORD }, { token: ctx.user.accessToken })).data?.unlinkGoogle.hasGoogle, false)

  const googleOnly = await gql(ctx.app, SignInWithGoogleDocument, { idToken: bobIdToken })
  const token = googleOnly.data?.signInWithGoogle.accessToken
  t.match(errorOf(await gql(ctx.app, UnlinkGoogleDocument, {}, { token })), { code: 'FORBIDDEN', reason: 'PASSWORD_REQUIRED' }, 'would lock the user out')
  t.match(errorOf(await gql(ctx.app, UnlinkGoogleDocument, { password: 'whatever password' }, { token })), { code: 'FORBIDDEN', reason: 'PASSWORD_REQUIRED' })
})

test('a Google sign-in is a primary sign-in: a stale Google-only session re-authenticates by signing in again', async (t) => {
  const ctx = await buildGmailApp(t, { env })
  const first = await gql(ctx.app, SignInWithGoogleDocument, { idToken: idTokenOf(ctx, BOB.email) })
  ctx.clock.advance(61_000)
  const del = await gql(ctx.app, DeleteAccountDocument, {}, { token: first.data?.signInWithGoogle.accessToken })
  t.match(errorOf(del), { code: 'REAUTH_REQUIRED', reason: 'SIGN_IN_TOO_OLD' })
  const withPassword = await gql(ctx.app, DeleteAccountDocument, { password: 'a guessed password' }, { token: first.data?.signInWithGoogle.accessToken })
  t.match(errorOf(withPassword), { code: 'REAUTH_REQUIRED', reason: 'NO_PASSWORD' })
  t.equal(await ctx.app.prisma.user.count({ where: { id: first.data?.signInWithGoogle.user.id } }), 1, 'not deleted')
})
