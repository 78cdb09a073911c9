import { test } from 'tap'
import { buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'
import { gqlData } from '../helper.ts'
import { authorizedClient, forUser, onBehalfOf, postToken, serviceTokenFor } from './helpers.ts'
import { SecurityEventsDocument } from '../support/generated/graphql.ts'

// Issue 26 item 2: an exchange writes no security-event row of its own. GMAIL_TOKEN_ISSUED is one row per client,
// user and hour with a count; the user's log shows it at once and the count catches up within a second.

test('GMAIL_TOKEN_ISSUED: one row per client, user and hour, with the number of tokens issued', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const tracker = await authorizedClient(ctx.app, [ctx.user.id], 'Payments tracker')
  const scanner = await authorizedClient(ctx.app, [ctx.user.id], 'Receipt scanner')
  // The app hands its backend a service token (issue 21: the user's API token is for GraphQL only).
  const issued = async (client: typeof tracker, n: number) => {
    const token = await serviceTokenFor(ctx.app, ctx.user.accessToken, client.clientId)
    for (let i = 0; i < n; i++) t.equal((await postToken(ctx.app, client, onBehalfOf(token))).statusCode, 200)
  }
  const rows = async () => await ctx.app.prisma.securityEvent.findMany({ where: { type: 'GMAIL_TOKEN_ISSUED', userId: ctx.user.id }, orderBy: { createdAt: 'asc' } })

  await issued(tracker, 5)
  await issued(scanner, 2)
  // Before the counts are flushed, the event is already in the log: the first exchange wrote its row.
  t.same((await rows()).map((r) => r.detail), [{ clientName: 'Payments tracker', clientId: tracker.clientId, subjectTokenType: 'urn:ietf:params:oauth:token-type:access_token' }, { clientName: 'Receipt scanner', clientId: scanner.clientId, subjectTokenType: 'urn:ietf:params:oauth:token-type:access_token' }])
  await ctx.app.auditLog.flush()
  t.same((await rows()).map((r) => r.count), [5, 2], 'seven exchanges, two rows, counted')

  const log = await gqlData(ctx.app, SecurityEventsDocument, {}, { token: ctx.user.accessToken })
  const shown = log.securityEvents.filter((e) => e.type === 'GMAIL_TOKEN_ISSUED').map((e) => [e.clientName, e.count])
  t.same(shown.sort(), [['Payments tracker', 5], ['Receipt scanner', 2]], 'the user sees each client with its count')

  // Without an explicit flush, the count catches up within COUNTED_FLUSH_MS.
  await issued(tracker, 3)
  const deadline = Date.now() + 10_000
  while ((await rows())[0]?.count !== 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await rows())[0]?.count, 8, 'added by the timer')

  // The next hour starts a new row (a worker client: the user's access token would have expired by then).
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'Nightly job', true)
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 200)
  ctx.clock.advance(60 * 60_000)
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 200)
  t.equal((await postToken(ctx.app, worker, forUser(ctx.user.id))).statusCode, 200)
  await ctx.app.auditLog.flush()
  t.same((await rows()).map((r) => r.count), [8, 2, 1, 2], 'the worker\'s two hours are two rows')
})
