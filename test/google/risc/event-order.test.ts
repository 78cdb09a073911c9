import t from 'tap'
import { gql } from '../../helper.ts'
import { buildGmailApp, connectWithTokens } from '../../gmail/helpers.ts'
import { authorizedClient, forUser, postToken } from '../../oauth/helpers.ts'
import { ALICE, buildRiscApp, post, RISC_EVENTS, subjectOf, WEB } from './helpers.ts'
import { GmailProfileDocument, GmailStatusDocument } from '../../support/generated/graphql.ts'

// Issue 21 item 6: RISC events take effect in event order (iat), per Google account and event family, whatever
// order Google delivers them in; SETs older than RISC_MAX_EVENT_AGE_SECONDS are refused.

type Ctx = Awaited<ReturnType<typeof buildRiscApp>>
const nowSeconds = (ctx: Ctx) => Math.floor(ctx.clock.now().getTime() / 1000)

function set (ctx: Ctx, event: keyof typeof RISC_EVENTS, sub: string, iat: number, extra: Record<string, unknown> = {}) {
  return ctx.google.state.risc.sign({ [RISC_EVENTS[event]]: { subject: subjectOf(sub), ...extra } }, WEB.id, { iat })
}
const hijacked = (ctx: Ctx, sub: string, iat: number) => set(ctx, 'account-disabled', sub, iat, { reason: 'hijacking' })
const blockOf = async (ctx: Ctx, sub: string) => await ctx.app.prisma.googleAccountBlock.findUnique({ where: { googleSub: sub } })
const details = async (ctx: Ctx) =>
  (await ctx.app.prisma.securityEvent.findMany({ where: { type: 'GOOGLE_RISC_EVENT' }, orderBy: { createdAt: 'asc' } })).map((e) => e.detail)

t.test('a stale account-enabled delivered after a hijacking disable does not lift it; a newer one does', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const now = nowSeconds(ctx)
  t.equal((await post(ctx, hijacked(ctx, ALICE.sub, now))).statusCode, 202)
  // Google's retry of an enable issued before the disable arrives late.
  t.equal((await post(ctx, set(ctx, 'account-enabled', ALICE.sub, now - 60))).statusCode, 202, 'acknowledged, so Google stops retrying')
  t.match(await blockOf(ctx, ALICE.sub), { reason: 'hijacking' }, 'still blocked')
  t.match(await details(ctx), [
    { event: 'account-disabled', outcome: 'sign_in_blocked', reason: 'hijacking' },
    { event: 'account-enabled', outcome: 'stale' }
  ])
  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_google_risc_events_total')
  t.match(metrics, /event="account-enabled",outcome="stale"} 1/)

  // The same the other way round: a stale disable does not re-block an account Google enabled since.
  t.equal((await post(ctx, set(ctx, 'account-enabled', ALICE.sub, now + 1))).statusCode, 202)
  t.equal(await blockOf(ctx, ALICE.sub), null, 'a newer enable lifts the block')
  t.equal((await post(ctx, hijacked(ctx, ALICE.sub, now - 30))).statusCode, 202)
  t.equal(await blockOf(ctx, ALICE.sub), null, 'a stale disable does not block again')
  // Families are independent: an older sessions-revoked still applies (its family has seen nothing newer).
  t.equal((await post(ctx, set(ctx, 'sessions-revoked', ALICE.sub, now - 120))).statusCode, 202)
  t.match((await details(ctx)).at(-1), { event: 'sessions-revoked', outcome: 'unknown_subject' })
})

t.test('stale revocations change nothing: a tokens-revoked older than the last one applied keeps the new grant', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const now = nowSeconds(ctx)
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  t.equal((await post(ctx, set(ctx, 'tokens-revoked', ALICE.sub, now))).statusCode, 202)
  const status = async () => (await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state
  t.equal(await status(), 'RECONNECT_REQUIRED')
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE', 'the user reconnects')
  t.equal((await post(ctx, set(ctx, 'tokens-revoked', ALICE.sub, now - 10))).statusCode, 202)
  t.equal(await status(), 'ACTIVE', 'an older revocation retried late does not delete the new grant')
})

t.test('SETs older than RISC_MAX_EVENT_AGE_SECONDS, from the future or without iat are refused (RFC 8935 shape)', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const now = nowSeconds(ctx)
  const cases: Array<[string, string]> = [
    ['over 7 days old', hijacked(ctx, ALICE.sub, now - 7 * 86_400 - 1)],
    ['an hour in the future', hijacked(ctx, ALICE.sub, now + 3600)],
    ['no iat', ctx.google.state.risc.sign({ [RISC_EVENTS['account-disabled']]: { subject: subjectOf(ALICE.sub), reason: 'hijacking' } }, WEB.id, { iat: undefined })],
    ['iat not a number', hijacked(ctx, ALICE.sub, String(now) as unknown as number)]
  ]
  for (const [name, token] of cases) {
    const res = await post(ctx, token)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().err, 'invalid_request', name)
    t.type(res.json().description, 'string', name)
  }
  t.equal(await blockOf(ctx, ALICE.sub), null, 'none of them took effect')
  t.equal(await ctx.app.prisma.receivedSecurityEvent.count(), 0)
  t.equal((await post(ctx, hijacked(ctx, ALICE.sub, now - 7 * 86_400 + 60))).statusCode, 202, 'just inside the window: accepted')
})

t.test('RISC_MAX_EVENT_AGE_SECONDS is configurable', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false, env: { RISC_MAX_EVENT_AGE_SECONDS: '3600' } })
  const now = nowSeconds(ctx)
  t.equal((await post(ctx, set(ctx, 'verification', 'x', now - 3601))).statusCode, 400)
  t.equal((await post(ctx, set(ctx, 'verification', 'x', now - 3500))).statusCode, 202)
})

t.test('no exchanged Gmail token and no gmailProfile while Google holds the account disabled for hijacking', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'mail-worker', true)
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 200, 'before: the worker gets a token')
  const now = nowSeconds(ctx)

  t.equal((await post(ctx, hijacked(ctx, ALICE.sub, now))).statusCode, 202)
  const refused = await postToken(ctx.app, worker, forUser(ctx.user.id))
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().error, 'invalid_grant')
  t.match(refused.json().error_description, /hijacking/)
  t.notOk(refused.json().access_token)
  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })
  t.match(profile.errors?.[0]?.extensions, { code: 'FORBIDDEN', reason: 'GOOGLE_ACCOUNT_BLOCKED' })
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE', 'the grant is kept (not used)')
  t.not(await ctx.app.vault.get(ctx.user.id), null)

  // A stale enable does not reopen the tap; a fresh one does.
  t.equal((await post(ctx, set(ctx, 'account-enabled', ALICE.sub, now - 5))).statusCode, 202)
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 400, 'still refused after a stale enable')
  t.equal((await post(ctx, set(ctx, 'account-enabled', ALICE.sub, now + 1))).statusCode, 202)
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 200, 'after account-enabled: a token again')
  t.equal((await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })).errors, undefined)
})

t.test('two deliveries racing: a hijacking disable and an older enable, on two servers, always end blocked', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  // Two server processes on PostgreSQL (separate pools); on the embedded database, one server and concurrent requests.
  const pg = process.env.TEST_DATABASE_URL != null && process.env.TEST_DATABASE_URL !== ''
  const other = pg ? (await buildGmailApp(t, { google: ctx.google, clock: ctx.clock, pgSchema: ctx.pgSchema })).app : ctx.app
  const now = nowSeconds(ctx)
  const rounds = 12
  const outcomes: number[] = []
  for (let i = 0; i < rounds; i++) {
    const sub = `race-${i}`
    const disable = hijacked(ctx, sub, now)
    const enable = set(ctx, 'account-enabled', sub, now - 1)
    const send = (app: typeof ctx.app, body: string) => app.inject({ method: 'POST', url: '/google/risc', headers: { 'content-type': 'application/secevent+jwt' }, payload: body })
    // Alternate which one starts first and which server gets which.
    const [a, b] = i % 2 === 0
      ? await Promise.all([send(ctx.app, enable), send(other, disable)])
      : await Promise.all([send(ctx.app, disable), send(other, enable)])
    outcomes.push(a.statusCode, b.statusCode)
    t.match(await blockOf(ctx, sub), { reason: 'hijacking' }, `round ${i}: blocked`)
  }
  t.same(new Set(outcomes), new Set([202]), 'every delivery acknowledged')
  t.equal(await ctx.app.prisma.riscEventOrder.count({ where: { family: 'account-status' } }), rounds)
})

t.test('a SET replayed after retention pruned its jti is refused by its age: pruning opens no replay window', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const now = nowSeconds(ctx)
  // The worst case for retention: an iat as far ahead as the receiver accepts (5 minutes), so the SET stays young longest.
  const token = hijacked(ctx, ALICE.sub, now + 299)
  t.equal((await post(ctx, token)).statusCode, 202)
  t.match(await blockOf(ctx, ALICE.sub), { reason: 'hijacking' })
  await post(ctx, set(ctx, 'account-enabled', ALICE.sub, now + 300))
  t.equal(await blockOf(ctx, ALICE.sub), null, 'lifted by a newer enable')
  t.equal(await ctx.app.prisma.receivedSecurityEvent.count(), 2)

  // RISC_MAX_EVENT_AGE_SECONDS (7 days) and the day of margin later, the jtis are pruned… (received_at is the
  // database's own time, which ran on while this test did: an hour past the margin, not a second.)
  ctx.clock.advance((8 * 86_400 + 3600) * 1000)
  t.match(await ctx.app.eventRetention.prune(), { riscEventIds: 2 })
  t.equal(await ctx.app.prisma.receivedSecurityEvent.count(), 0)
  // …and the captured disable, replayed, is refused for its age: the jti was the only thing standing in its way
  // for 7 days, and no longer needs to.
  const replay = await post(ctx, token)
  t.equal(replay.statusCode, 400)
  t.equal(replay.json().err, 'invalid_request')
  t.equal(await blockOf(ctx, ALICE.sub), null, 'the replay blocked nobody')
})
