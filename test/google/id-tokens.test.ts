import { test } from 'tap'
import { ALICE, BOB, buildGmailApp, FOREIGN_IOS, IOS, WEB } from '../gmail/helpers.ts'
import { gql } from '../helper.ts'
import { SignInWithGoogleDocument } from '../support/generated/graphql.ts'

// docs/security.md items 13 and 13a: ID tokens checked for `azp` and a future `iat`; Google's signing certificates
// fetched once and kept for their Cache-Control max-age, refetched (at most once a minute) on an unknown `kid`.

const certsFetches = (ctx: { google: { state: { stats (): { requests: { certs?: number } } } } }) => ctx.google.state.stats().requests.certs ?? 0
const nowSeconds = () => Math.floor(Date.now() / 1000)

test('100 sign-ins fetch Google\'s certificates once (sequential and in a burst on a cold cache)', async (t) => {
  const ctx = await buildGmailApp(t)
  // A burst on a cold cache, by 20 different people: the arrivals share one fetch.
  const people = Array.from({ length: 20 }, (_, i) => ctx.google.state.upsertUser({ sub: `2000000000000000000${String(i).padStart(2, '0')}`, email: `p${i}@gmail.example` }))
  const burst = await Promise.all(people.map(async (p) =>
    await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: p.email }).idToken })))
  t.same(burst.filter((r) => r.errors != null).map((r) => r.errors), [], 'every sign-in of the burst succeeded')
  for (let i = 0; i < 80; i++) {
    const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: i % 2 === 0 ? ALICE.email : BOB.email }).idToken })
    t.equal(res.errors, undefined)
  }
  t.equal(certsFetches(ctx), 1, '100 sign-ins, 1 certificates fetch (was 100: a new OAuth2Client per check)')
})

test('a token signed with a newly rotated key refetches the certificates once; unknown kids do not refetch again', async (t) => {
  const ctx = await buildGmailApp(t)
  const signIn = async () => await gql(ctx.app, SignInWithGoogleDocument, { idToken: ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken })
  t.equal((await signIn()).errors, undefined)
  t.equal(certsFetches(ctx), 1)
  // Google starts signing with a key published after our copy was fetched (its max-age has not run out).
  ctx.google.state.rotateKeys()
  t.equal((await signIn()).errors, undefined, 'the new key is found by refetching')
  t.equal(certsFetches(ctx), 2)
  t.equal((await signIn()).errors, undefined)
  t.equal(certsFetches(ctx), 2, 'then served from the cache again')

  // Junk tokens with made-up kids: refused, and they do not turn into requests to Google.
  const valid = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email }).idToken
  const [, payload, signature] = valid.split('.')
  for (let i = 0; i < 20; i++) {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: `made-up-${i}`, typ: 'JWT' })).toString('base64url')
    const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken: `${header}.${payload}.${signature}` })
    t.equal(res.errors?.[0]?.extensions.reason, 'GOOGLE_ID_TOKEN_INVALID')
  }
  t.equal(certsFetches(ctx), 2, 'no refetch within a minute of the last one')
})

test('an ID token issued to another client (azp) is refused even when its aud is ours', async (t) => {
  const ctx = await buildGmailApp(t)
  const foreignAzp = ctx.google.state.mintIdToken({ user: ALICE.email, aud: WEB.id, azp: FOREIGN_IOS.id })
  const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken: foreignAzp })
  t.equal(res.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  t.equal(res.errors?.[0]?.extensions.reason, 'GOOGLE_ID_TOKEN_INVALID')
  // The same through the iOS SDK's path (GIDServerClientID set by somebody else's app).
  const viaSdk = ctx.google.state.nativeSignIn({ clientId: FOREIGN_IOS.id, user: ALICE.email, serverClientId: WEB.id }).idToken
  t.equal((await gql(ctx.app, SignInWithGoogleDocument, { idToken: viaSdk })).errors?.[0]?.extensions.reason, 'GOOGLE_ID_TOKEN_INVALID')

  // Ours: azp the iOS client (aud the web client), azp absent, azp = aud.
  for (const [name, idToken] of [
    ['azp = our iOS client', ctx.google.state.mintIdToken({ user: ALICE.email, aud: WEB.id, azp: IOS.id })],
    ['no azp', ctx.google.state.mintIdToken({ user: ALICE.email, aud: IOS.id, claims: { azp: null } })],
    ['azp = aud', ctx.google.state.mintIdToken({ user: ALICE.email, aud: IOS.id })]
  ] as const) {
    t.equal((await gql(ctx.app, SignInWithGoogleDocument, { idToken })).errors, undefined, name)
  }
  t.equal(await ctx.app.prisma.user.count({ where: { googleSub: ALICE.sub } }), 1)
})

test('an ID token issued in the future beyond the clock skew is refused', async (t) => {
  const ctx = await buildGmailApp(t, { env: { JWT_CLOCK_SKEW_SECONDS: '30' } })
  // 120 s ahead: google-auth-library alone allows 300 s.
  const future = ctx.google.state.mintIdToken({ user: ALICE.email, aud: IOS.id, claims: { iat: nowSeconds() + 120 } })
  const res = await gql(ctx.app, SignInWithGoogleDocument, { idToken: future })
  t.equal(res.errors?.[0]?.extensions.reason, 'GOOGLE_ID_TOKEN_INVALID')
  t.equal(await ctx.app.prisma.user.count({ where: { googleSub: ALICE.sub } }), 0, 'nothing created')
  const withinSkew = ctx.google.state.mintIdToken({ user: ALICE.email, aud: IOS.id, claims: { iat: nowSeconds() + 10 } })
  t.equal((await gql(ctx.app, SignInWithGoogleDocument, { idToken: withinSkew })).errors, undefined, 'within the skew: accepted')
})

test('the emulator\'s control API mints ID tokens with chosen claims', async (t) => {
  const ctx = await buildGmailApp(t)
  const res = await fetch(`${ctx.google.baseUrl}/__emulator/id-token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: ALICE.email, aud: WEB.id, azp: FOREIGN_IOS.id, claims: { iat: 1 } })
  })
  const { idToken } = await res.json() as { idToken: string }
  const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString())
  t.match(claims, { aud: WEB.id, azp: FOREIGN_IOS.id, iat: 1, sub: ALICE.sub })
})
