import t from 'tap'
import { gql } from '../../helper.ts'
import { connectWithTokens, iosSignIn, tokenCalls } from '../../gmail/helpers.ts'
import { ALICE, buildRiscApp, post, settled, setFor, subjectOf } from './helpers.ts'
import { ConnectGmailDocument, GmailStatusDocument, MeDocument } from '../../support/generated/graphql.ts'

async function riscEvents (ctx: Awaited<ReturnType<typeof buildRiscApp>>, userId?: string) {
  return await ctx.app.prisma.securityEvent.findMany({ where: { type: 'GOOGLE_RISC_EVENT', ...(userId != null ? { userId } : {}) }, orderBy: { createdAt: 'asc' } })
}

async function linkGoogle (ctx: Awaited<ReturnType<typeof buildRiscApp>>) {
  await ctx.app.prisma.user.update({ where: { id: ctx.user.id }, data: { googleSub: ALICE.sub } })
}

t.test('tokens-revoked: the user removes the app at Google → grant deleted, RECONNECT_REQUIRED, no Gmail or token call', async (t) => {
  const ctx = await buildRiscApp(t)
  const connected = await connectWithTokens(ctx)
  t.equal(connected.data?.connectGmail.status.state, 'ACTIVE')
  const calls = tokenCalls(ctx.google)
  ctx.google.state.revokeUserAccess(ALICE.email)
  const [delivery] = await settled(ctx)
  t.equal(delivery!.state, 'delivered')
  t.equal(delivery!.last, 202)
  const status = await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })
  t.equal(status.data?.gmailStatus.state, 'RECONNECT_REQUIRED')
  const row = await ctx.app.prisma.gmailConnection.findUnique({ where: { userId: ctx.user.id } })
  t.equal(row!.stateReason, 'REVOKED_BY_GOOGLE')
  t.equal(row!.refreshTokenPrefix, null)
  t.equal(await ctx.app.vault.get(ctx.user.id), null, 'the secret is gone from the vault')
  t.equal(tokenCalls(ctx.google), calls, 'no refresh was needed to find out')
  const events = await riscEvents(ctx, ctx.user.id)
  t.match(events.map((e) => e.detail), [{ event: 'tokens-revoked', outcome: 'grant_deleted', googleSub: ALICE.sub }])
  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_google_risc_events_total')
  t.match(metrics, /event="tokens-revoked",outcome="grant_deleted"} 1/)
})

for (const alg of ['prefix', 'hash_base64_sha512_sha512'] as const) {
  t.test(`token-revoked (${alg}): the grant holding that refresh token is deleted, another one is not`, async (t) => {
    const ctx = await buildRiscApp(t)
    const g = iosSignIn(ctx)
    const res = await gql(ctx.app, ConnectGmailDocument, {
      input: { accessToken: g.accessToken, refreshToken: g.refreshToken, expiresIn: g.expiresIn, scope: g.grantedScopes.join(' '), idToken: g.idToken }
    }, { token: ctx.user.accessToken })
    t.equal(res.data?.connectGmail.status.state, 'ACTIVE')
    const row = await ctx.app.prisma.gmailConnection.findUnique({ where: { userId: ctx.user.id } })
    t.equal(row!.refreshTokenPrefix, g.refreshToken.slice(0, 16))
    t.not(row!.refreshTokenHash, g.refreshToken, 'only a hash is stored')
    t.notMatch(JSON.stringify(row), g.refreshToken)

    // A token that is not ours: nothing happens.
    const other = await ctx.google.app.inject({ method: 'POST', url: '/__emulator/risc/events', payload: { type: 'token-revoked', token: 'zz' + g.refreshToken.slice(2), token_identifier_alg: alg } })
    t.equal(other.statusCode, 200)
    await settled(ctx)
    t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE')

    await ctx.google.app.inject({ method: 'POST', url: '/__emulator/risc/events', payload: { type: 'token-revoked', token: g.refreshToken, token_identifier_alg: alg, aud: 'ios.apps.googleusercontent.com' } })
    await settled(ctx)
    t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'RECONNECT_REQUIRED')
    t.equal(await ctx.app.vault.get(ctx.user.id), null)
    t.match((await riscEvents(ctx, ctx.user.id)).map((e) => e.detail), [{ event: 'token-revoked', outcome: 'grant_deleted' }])
  })
}

t.test('sessions-revoked: every session of the linked user ends, its access token fails at once', async (t) => {
  const ctx = await buildRiscApp(t)
  await linkGoogle(ctx)
  t.equal((await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).errors, undefined)
  ctx.google.state.accountEvent(ALICE.email, 'sessions-revoked')
  await settled(ctx)
  const live = await ctx.app.prisma.session.count({ where: { userId: ctx.user.id, revokedAt: null } })
  t.equal(live, 0)
  const me = await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })
  t.equal(me.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED')
  t.match((await riscEvents(ctx, ctx.user.id)).map((e) => e.detail), [{ event: 'sessions-revoked', outcome: 'sessions_ended' }])
})

t.test('account-disabled (hijacking): sessions end and Sign in with Google is refused until account-enabled', async (t) => {
  const ctx = await buildRiscApp(t)
  await linkGoogle(ctx)
  ctx.google.state.accountEvent(ALICE.email, 'account-disabled', { reason: 'hijacking' })
  await settled(ctx)
  t.equal(await ctx.app.prisma.session.count({ where: { userId: ctx.user.id, revokedAt: null } }), 0)
  const identity = { sub: ALICE.sub, email: ALICE.email, emailVerified: true, name: 'Alice' }
  await t.rejects(ctx.app.googleSignIn.findOrCreate(identity as never, {}), { code: 'FORBIDDEN', reason: 'GOOGLE_ACCOUNT_BLOCKED' })

  ctx.google.state.accountEvent(ALICE.email, 'account-enabled')
  await settled(ctx)
  const user = await ctx.app.googleSignIn.findOrCreate(identity as never, {})
  t.equal(user.id, ctx.user.id, 'signs in again once Google re-enabled the account')
  t.match((await riscEvents(ctx, ctx.user.id)).map((e) => e.detail), [
    { event: 'account-disabled', outcome: 'sessions_ended_sign_in_blocked', reason: 'hijacking' },
    { event: 'account-enabled', outcome: 'sign_in_unblocked' }
  ])
})

t.test('account-disabled without reason: Sign in with Google blocked, sessions kept', async (t) => {
  const ctx = await buildRiscApp(t)
  await linkGoogle(ctx)
  ctx.google.state.accountEvent(ALICE.email, 'account-disabled')
  await settled(ctx)
  t.ok(await ctx.app.prisma.session.count({ where: { userId: ctx.user.id, revokedAt: null } }) > 0)
  t.ok(await ctx.app.prisma.googleAccountBlock.findUnique({ where: { googleSub: ALICE.sub } }))
  t.match((await riscEvents(ctx, ctx.user.id)).map((e) => e.detail), [{ event: 'account-disabled', outcome: 'sign_in_blocked' }])
})

t.test('account-credential-change-required: a security event, nothing else', async (t) => {
  const ctx = await buildRiscApp(t)
  await linkGoogle(ctx)
  await connectWithTokens(ctx)
  ctx.google.state.accountEvent(ALICE.email, 'account-credential-change-required')
  await settled(ctx)
  t.ok(await ctx.app.prisma.session.count({ where: { userId: ctx.user.id, revokedAt: null } }) > 0)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE')
  t.match((await riscEvents(ctx, ctx.user.id)).map((e) => e.detail), [{ event: 'account-credential-change-required', outcome: 'recorded' }])
})

t.test('verification: logged with its state, 202', async (t) => {
  const ctx = await buildRiscApp(t)
  const res = await ctx.google.app.inject({ method: 'POST', url: '/__emulator/risc/events', payload: { type: 'verification', state: 'hello-risc' } })
  t.equal(res.statusCode, 200)
  const [d] = await settled(ctx)
  t.equal(d!.last, 202)
  t.ok(ctx.logs.some((l) => l.includes('hello-risc') && l.includes('verification')))
})

t.test('an unknown subject is accepted (202) and changes nothing', async (t) => {
  const ctx = await buildRiscApp(t)
  await connectWithTokens(ctx)
  const res = await post(ctx, setFor(ctx, 'tokens-revoked', subjectOf('999999999999999999999')))
  t.equal(res.statusCode, 202)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE')
  t.match((await riscEvents(ctx)).map((e) => e.detail), [{ event: 'tokens-revoked', outcome: 'unknown_subject' }])
})
