import { test } from 'tap'
import { ALICE, buildGmailApp, connectWithTokens, IOS } from '../gmail/helpers.ts'
import type { GmailTestContext } from '../gmail/helpers.ts'
import { gql, signUp } from '../helper.ts'
import { ConnectGmailDocument, GmailProfileDocument, LinkGoogleDocument, SignInWithGoogleDocument } from '../support/generated/graphql.ts'

// docs/security.md item 14a: every operation that calls Google is bounded per user and per client IP (rules googleOpsPer*
// of src/rate-limits/rate-limits.ts), counted per call (aliases each count) in the database, answered RATE_LIMITED
// with retryAfterSeconds.

const googleRequests = (ctx: GmailTestContext) => Object.values(ctx.google.state.stats().requests).reduce((a, b) => a + (b ?? 0), 0)
const JUNK = { input: { accessToken: 'ya29.junk', refreshToken: '1//junk' } }

async function junkConnects (ctx: GmailTestContext, n: number) {
  const codes: Record<string, number> = {}
  const before = googleRequests(ctx)
  for (let i = 0; i < n; i++) {
    const res = await gql(ctx.app, ConnectGmailDocument, JUNK, { token: ctx.user.accessToken })
    const code = String(res.errors?.[0]?.extensions.code)
    codes[code] = (codes[code] ?? 0) + 1
  }
  return { codes, googleRequests: googleRequests(ctx) - before }
}

test('100 junk connectGmail calls from one user: one Google call each without the limit, 20 with the default', async (t) => {
  const unbounded = await buildGmailApp(t, { env: { GOOGLE_OPS_PER_USER_PER_MINUTE: '100000', GOOGLE_OPS_PER_IP_PER_MINUTE: '100000' } })
  const without = await junkConnects(unbounded, 100)
  t.same(without, { codes: { BAD_USER_INPUT: 100 }, googleRequests: 100 }, 'the same code path unbounded: 100 Google calls')

  const ctx = await buildGmailApp(t)
  const bounded = await junkConnects(ctx, 100)
  t.same(bounded, { codes: { BAD_USER_INPUT: 20, RATE_LIMITED: 80 }, googleRequests: 20 }, 'GOOGLE_OPS_PER_USER_PER_MINUTE=20 (default): 20 Google calls')
  const refused = await gql(ctx.app, ConnectGmailDocument, JUNK, { token: ctx.user.accessToken })
  t.equal(refused.errors?.[0]?.extensions.code, 'RATE_LIMITED')
  t.ok(Number(refused.errors?.[0]?.extensions.retryAfterSeconds) > 0 && Number(refused.errors?.[0]?.extensions.retryAfterSeconds) <= 60, 'retryAfterSeconds within the minute')

  // Another user on the same IP still gets through (the per-IP limit is higher), and so does a disconnect.
  const other = await signUp(ctx.app, 'NATIVE', 'other@example.com')
  t.equal((await gql(ctx.app, ConnectGmailDocument, JUNK, { token: other.accessToken })).errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
})

test('aliases count each: 10 aliased gmailProfile fields are 10 operations', async (t) => {
  const ctx = await buildGmailApp(t, { env: { GOOGLE_OPS_PER_USER_PER_MINUTE: '4' } })
  t.equal((await connectWithTokens(ctx)).errors, undefined, 'connected: 1 operation of 4')
  const gmailBefore = ctx.google.state.stats().requests.gmail ?? 0
  // An alias batch (no client of ours sends one): a string, on purpose.
  const fields = Array.from({ length: 10 }, (_, i) => `p${i}: gmailProfile { emailAddress }`).join(' ')
  const res = await gql(ctx.app, `query { ${fields} }`, {}, { token: ctx.user.accessToken })
  t.equal(res.errors?.[0]?.extensions.code, 'RATE_LIMITED')
  // The response leaves at the first error (the field is non-null); the other fields' resolvers run on.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((ctx.google.state.stats().requests.gmail ?? 0) - gmailBefore, 3, '3 reached Google, 7 were refused before it')
})

test('gmailProfile and linkGoogle are bounded per user; signInWithGoogle and GET /auth/google per IP', async (t) => {
  const ctx = await buildGmailApp(t, { env: { GOOGLE_OPS_PER_USER_PER_MINUTE: '3', GOOGLE_OPS_PER_IP_PER_MINUTE: '8' } })
  t.equal((await connectWithTokens(ctx)).errors, undefined, 'connected (1 operation)')
  const profile = async () => await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })
  t.equal((await profile()).data?.gmailProfile.emailAddress, ALICE.email, '2nd operation')
  t.equal((await profile()).errors, undefined, '3rd operation')
  const limited = await profile()
  t.equal(limited.errors?.[0]?.extensions.code, 'RATE_LIMITED', '4th: over the per-user limit')
  t.ok(Number(limited.errors?.[0]?.extensions.retryAfterSeconds) >= 1)
  const idToken = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken
  t.equal((await gql(ctx.app, LinkGoogleDocument, { idToken }, { token: ctx.user.accessToken })).errors?.[0]?.extensions.code,
    'RATE_LIMITED', 'linkGoogle counts for the same user')

  // 5 operations spent from this IP so far; 3 more sign-ins reach the IP limit of 8.
  const signIn = async () => await gql(ctx.app, SignInWithGoogleDocument,
    { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken })
  for (let i = 0; i < 3; i++) t.equal((await signIn()).errors, undefined, `sign-in ${i + 1}`)
  const certsBefore = ctx.google.state.stats().requests.certs
  t.equal((await signIn()).errors?.[0]?.extensions.code, 'RATE_LIMITED', 'signInWithGoogle over the per-IP limit')
  t.equal(ctx.google.state.stats().requests.certs, certsBefore, 'refused before any Google call')
  const start = await ctx.app.inject({ method: 'GET', url: '/auth/google' })
  t.equal(start.statusCode, 429, 'GET /auth/google over the per-IP limit')
  t.match(start.body, /Too many attempts/)

  // Another IP is not affected.
  const elsewhere = await ctx.app.inject({ method: 'GET', url: '/auth/google', remoteAddress: '203.0.113.9' })
  t.equal(elsewhere.statusCode, 302)
})
