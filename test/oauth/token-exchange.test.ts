import { test } from 'tap'
import { ALICE, buildGmailApp, connectWithTokens, GMAIL_READONLY, iosSignIn, tokenCalls } from '../gmail/helpers.ts'
import { gql } from '../helper.ts'
import { authorizedClient, forUser, gmailWith, onBehalfOf, postToken, serviceTokenFor, TOKEN_TYPE_GOOGLE_ACCESS_TOKEN } from './helpers.ts'
import { ConnectGmailDocument, LogoutDocument, SecurityEventsDocument } from '../support/generated/graphql.ts'

// Issue 13: POST /oauth/token (RFC 8693) hands a registered backend the user's Google access token.

test('on behalf of a signed-in user: the Google access token, never the refresh token; it opens the mailbox', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const client = await authorizedClient(ctx.app, [ctx.user.id], 'Payments tracker')
  const serviceToken = await serviceTokenFor(ctx.app, ctx.user.accessToken, client.clientId)
  const res = await postToken(ctx.app, client, onBehalfOf(serviceToken))
  t.equal(res.statusCode, 200, res.json().error ?? 'issued')
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  const held = await ctx.app.vault.get(ctx.user.id)
  t.match(body, { issued_token_type: TOKEN_TYPE_GOOGLE_ACCESS_TOKEN, token_type: 'Bearer', access_token: held!.accessToken })
  t.ok(body.expires_in > 3000 && body.expires_in <= 3600, `expires_in ${body.expires_in}`)
  t.ok(body.scope.split(' ').includes(GMAIL_READONLY))
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'])
  t.notOk(res.body.includes(held!.refreshToken), 'never the refresh token')

  const gmail = gmailWith(body.access_token, ctx.google.baseUrl)
  const list = await gmail.users.messages.list({ userId: 'me', maxResults: 3 })
  t.equal(list.data.messages?.length, 3, 'the token opens the mailbox')
  t.ok((list.data.resultSizeEstimate ?? 0) >= 3)
  t.ok(list.data.nextPageToken)

  // Visible to the user in their own security log, with the client's name, and counted per client.
  const log = await gql(ctx.app, SecurityEventsDocument, {}, { token: ctx.user.accessToken })
  t.match(log.data?.securityEvents[0], { type: 'GMAIL_TOKEN_ISSUED', clientName: 'Payments tracker' })
  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_oauth_token_exchanges_total')
  t.match(metrics, /client="Payments tracker",outcome="issued"\} 1/)
  assertNoSecrets(t, ctx.logs, [client.clientSecret, ctx.user.accessToken, serviceToken, held!.accessToken, held!.refreshToken])
})

test('a worker client acts for a user by id (client_secret_post); messages.get reads a message', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'Receipt scanner', true)
  const res = await postToken(ctx.app, worker, forUser(ctx.user.id, { scope: GMAIL_READONLY }), { auth: 'post' })
  t.equal(res.statusCode, 200, res.json().error ?? 'issued')
  const gmail = gmailWith(res.json().access_token, ctx.google.baseUrl)
  const list = await gmail.users.messages.list({ userId: 'me' })
  const id = list.data.messages![0]!.id!
  const message = await gmail.users.messages.get({ userId: 'me', id })
  const subject = message.data.payload?.headers?.find((h) => h.name === 'Subject')?.value
  t.ok(subject, `subject: ${subject}`)
  t.ok(Buffer.from(message.data.payload!.body!.data!, 'base64url').toString().length > 0, 'a body')
  t.equal(await statusOf(gmail.users.messages.get({ userId: 'me', id: 'ffffffffffffffff' })), 404, 'unknown id: 404')
  t.equal(await statusOf(gmailWith('ya29.nonsense', ctx.google.baseUrl).users.messages.list({ userId: 'me' })), 401, 'bad token: 401')
  const log = await ctx.app.prisma.securityEvent.findFirst({ where: { type: 'GMAIL_TOKEN_ISSUED', userId: ctx.user.id } })
  t.match(log?.detail, { clientName: 'Receipt scanner', clientId: worker.clientId })
  assertNoSecrets(t, ctx.logs, [worker.clientSecret, res.json().access_token])
})

test('a logged-out subject token is refused (invalid_grant)', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const client = await authorizedClient(ctx.app, [ctx.user.id], 'AI mail')
  const serviceToken = await serviceTokenFor(ctx.app, ctx.user.accessToken, client.clientId)
  t.equal((await postToken(ctx.app, client, onBehalfOf(serviceToken))).statusCode, 200)
  t.equal((await gql(ctx.app, LogoutDocument, {}, { token: ctx.user.accessToken })).errors, undefined)
  const res = await postToken(ctx.app, client, onBehalfOf(serviceToken))
  t.equal(res.statusCode, 400)
  t.equal(res.json().error, 'invalid_grant')
  t.equal(res.headers['cache-control'], 'no-store')
})

test('50 concurrent exchanges near expiry: one Google refresh, one token handed to all', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'Burst', true)
  ctx.clock.advance(57 * 60_000)
  ctx.google.state.resetStats()
  const responses = await Promise.all(Array.from({ length: 50 }, async () => await postToken(ctx.app, worker, forUser(ctx.user.id))))
  t.same([...new Set(responses.map((r) => r.statusCode))], [200])
  const tokens = new Set(responses.map((r) => r.json().access_token))
  t.equal(tokens.size, 1, 'one token for everyone')
  t.equal(tokenCalls(ctx.google), 1, 'one call to Google')
  t.equal([...tokens][0], (await ctx.app.vault.get(ctx.user.id))?.accessToken, 'the refreshed one')
  t.ok(responses.every((r) => r.json().expires_in > 3000), 'fresh')
})

test('Google down: 503 temporarily_unavailable with Retry-After, the grant kept; then recovery', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const worker = await authorizedClient(ctx.app, [ctx.user.id], 'Outage', true)
  const held = await ctx.app.vault.get(ctx.user.id)
  ctx.clock.advance(57 * 60_000)
  ctx.google.state.addFault({ endpoint: 'token', kind: 'http5xx', status: 503 })
  const down = await postToken(ctx.app, worker, forUser(ctx.user.id))
  t.equal(down.statusCode, 503)
  t.equal(down.json().error, 'temporarily_unavailable')
  t.ok(Number(down.headers['retry-after']) > 0, 'Retry-After')
  t.same(await ctx.app.vault.get(ctx.user.id), held, 'nothing deleted')
  ctx.google.state.clearFaults()
  const back = await postToken(ctx.app, worker, forUser(ctx.user.id))
  t.equal(back.statusCode, 200)
  t.not(back.json().access_token, held!.accessToken, 'refreshed once Google is back')
  t.equal((await ctx.app.vault.get(ctx.user.id))?.refreshToken, held!.refreshToken, 'the grant is kept')
  const metrics = await ctx.app.metrics.registry.getSingleMetricAsString('inboxgate_oauth_token_exchanges_total')
  t.match(metrics, /client="Outage",outcome="temporarily_unavailable"\} 1/)
})

test('granular consent and scope: SCOPE_MISSING, invalid_scope', async (t) => {
  const ctx = await buildGmailApp(t)
  const client = await authorizedClient(ctx.app, [ctx.user.id], 'Scopes')
  const serviceToken = await serviceTokenFor(ctx.app, ctx.user.accessToken, client.clientId)
  const g = iosSignIn(ctx, ALICE, [])
  await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, { token: ctx.user.accessToken })
  const missing = await postToken(ctx.app, client, onBehalfOf(serviceToken))
  t.match(missing.json(), { error: 'invalid_grant', gmail_state: 'SCOPE_MISSING' })
  await connectWithTokens(ctx)
  const wider = await postToken(ctx.app, client, onBehalfOf(serviceToken, { scope: 'https://mail.google.com/' }))
  t.equal(wider.statusCode, 400)
  t.equal(wider.json().error, 'invalid_scope')
})

async function statusOf (p: Promise<unknown>): Promise<number> {
  return await p.then(() => 200, (err: { status?: number }) => err.status ?? 0)
}

function assertNoSecrets (t: { notOk: (v: unknown, m: string) => unknown }, logs: string[], secrets: string[]) {
  const all = logs.join('\n')
  for (const s of secrets) t.notOk(all.includes(s), 'no secret in the logs')
}
