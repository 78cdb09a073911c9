import t from 'tap'
import type { Test } from 'tap'
import { gql } from '../../helper.ts'
import { connectWithTokens } from '../../gmail/helpers.ts'
import { freePort } from '../../support/free-port.ts'
import { ALICE, buildRiscApp, forged, post, RISC_EVENTS, RISC_ISSUER, settled, setFor, subjectOf, WEB } from './helpers.ts'
import { GmailStatusDocument } from '../../support/generated/graphql.ts'

const revoke = () => ({ [RISC_EVENTS['tokens-revoked']]: { subject: subjectOf(ALICE.sub) } })
const stillActive = async (t: Test, ctx: Awaited<ReturnType<typeof buildRiscApp>>) => {
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE', 'a rejected token changes nothing')
  t.not(await ctx.app.vault.get(ctx.user.id), null)
}

t.test('rejected tokens: 400 with RFC 8935 error codes, and nothing changes', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  await connectWithTokens(ctx)
  const claims = { iss: RISC_ISSUER, aud: WEB.id, iat: 1, jti: 'forged-1', events: revoke() }
  const cases: Array<[string, string, string, string?]> = [
    ['forged signature (our kid, another key)', forged(ctx, claims), 'authentication_failed'],
    ['unknown kid', forged(ctx, claims, { kid: 'not-a-google-key' }), 'invalid_key'],
    ['foreign audience', setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub), {}, 'foreign-ios.apps.googleusercontent.com'), 'invalid_audience'],
    ['wrong issuer', setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub), { iss: 'https://evil.example/' }), 'invalid_issuer'],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`, 'invalid_request'],
    ['HS256', forged(ctx, claims, { alg: 'HS256' }), 'invalid_request'],
    ['not a JWT', 'hello', 'invalid_request'],
    ['empty body', '', 'invalid_request'],
    ['no events claim', setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub), { events: undefined }), 'invalid_request'],
    ['events not an object', setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub), { events: ['x'] }), 'invalid_request'],
    ['no jti', setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub), { jti: undefined }), 'invalid_request'],
    ['JSON content type', setFor(ctx, 'tokens-revoked', subjectOf(ALICE.sub)), 'invalid_request', 'application/json']
  ]
  for (const [name, body, err, contentType] of cases) {
    const res = await post(ctx, body, contentType)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().err, err, name)
    t.type(res.json().description, 'string')
  }
  await stillActive(t, ctx)
  t.equal(await ctx.app.prisma.receivedSecurityEvent.count(), 0, 'no jti is stored for a rejected token')
  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_google_risc_events_total')
  t.match(metrics, /event="rejected",outcome="authentication_failed"} 1/)
})

t.test('Google sends no exp: a SET without one is accepted while its iat is within RISC_MAX_EVENT_AGE_SECONDS', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const sixDaysAgo = Math.floor(ctx.clock.now().getTime() / 1000) - 6 * 86_400
  const res = await post(ctx, setFor(ctx, 'verification', subjectOf('x'), { iat: sixDaysAgo }))
  t.equal(res.statusCode, 202)
})

t.test('a replayed jti is accepted (202) but takes effect once', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  await ctx.app.prisma.user.update({ where: { id: ctx.user.id }, data: { googleSub: ALICE.sub } })
  const set = setFor(ctx, 'sessions-revoked', subjectOf(ALICE.sub))
  t.equal((await post(ctx, set)).statusCode, 202)
  // The user signs in again; a replay of the same token must not end the new session.
  await ctx.app.prisma.session.updateMany({ where: { userId: ctx.user.id }, data: { revokedAt: null, revokedReason: null } })
  t.equal((await post(ctx, set)).statusCode, 202)
  t.ok(await ctx.app.prisma.session.count({ where: { userId: ctx.user.id, revokedAt: null } }) > 0, 'the replay ended nothing')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GOOGLE_RISC_EVENT' } }), 1)
  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_google_risc_events_total')
  t.match(metrics, /event="sessions-revoked",outcome="replayed"} 1/)
})

t.test('keys: fetched from the RISC configuration, cached, refetched on an unknown kid (rotation)', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  t.equal((await post(ctx, setFor(ctx, 'verification', subjectOf('x')))).statusCode, 202)
  const before = ctx.google.state.risc.jwks().keys[0]!.kid
  ctx.google.state.risc.rotate()
  t.not(ctx.google.state.risc.jwks().keys.at(-1)!.kid, before)
  t.equal((await post(ctx, setFor(ctx, 'verification', subjectOf('x')))).statusCode, 202, 'the new key is fetched')
})

t.test('receiver outage: the emulator retries, the event takes effect once the receiver is back', async (t) => {
  const port = await freePort()
  const ctx = await buildRiscApp(t, { listen: false })
  await connectWithTokens(ctx)
  ctx.google.state.risc.stream = { url: `http://127.0.0.1:${port}/google/risc`, eventsRequested: Object.values(RISC_EVENTS) }
  ctx.google.state.revokeUserAccess(ALICE.email)
  const delivery = ctx.google.state.risc.deliveries[0]!
  while (delivery.attempts < 2) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(delivery.state, 'pending', 'still retrying while the receiver is down')
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE')
  await ctx.app.listen({ host: '127.0.0.1', port })
  await settled(ctx)
  t.equal(delivery.state, 'delivered')
  t.ok(delivery.attempts >= 3)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'RECONNECT_REQUIRED')
})

t.test('retries are bounded: a receiver that never comes back loses the event, as with Google', async (t) => {
  const port = await freePort()
  const ctx = await buildRiscApp(t, { listen: false })
  ctx.google.state.risc.stream = { url: `http://127.0.0.1:${port}/google/risc`, eventsRequested: Object.values(RISC_EVENTS) }
  ctx.google.state.accountEvent(ALICE.email, 'sessions-revoked')
  const [d] = await settled(ctx)
  t.equal(d!.state, 'dropped')
  t.equal(d!.attempts, 6, 'one try and five retries')
})
