import { test } from 'tap'
import { ALICE, BOB, connectWithTokens } from '../gmail/helpers.ts'
import { waitFor } from '../support/wait-for.ts'
import { AUDIENCE, buildPushApp, PUSH_SA, webhookReceiver } from './support.ts'
import { DisconnectGmailDocument } from '../support/generated/graphql.ts'
import { gql } from '../helper.ts'

// Issue 23: Gmail push in (watch, Pub/Sub push with OIDC, history), signed webhooks out.

const gmailCalls = (ctx: { google: { state: { stats (): { requests: Partial<Record<string, number>> } } } }) => ctx.google.state.stats().requests.gmail ?? 0

test('a message delivered at Gmail reaches the registered endpoint once, signed, with ids only', async (t) => {
  const ctx = await buildPushApp(t)
  const receiver = await webhookReceiver(t)
  const client = await ctx.app.serviceClients.create('Receipt scanner', true, true)
  const hook = await ctx.app.webhookEndpoints.create(client.clientId, receiver.url, [])
  receiver.useSecret(hook.secret)
  t.match(hook.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/)

  const connected = await connectWithTokens(ctx)
  t.notOk(connected.errors)
  await waitFor(() => ctx.google.state.push.watches.size === 1, 'the watch')
  const [watch] = [...ctx.google.state.push.watches.values()]
  t.equal(watch!.topicName, 'projects/inboxgate-test/topics/gmail-push')
  t.same(watch!.labelIds, ['INBOX'])
  await waitFor(() => receiver.ofType('gmail.connected').length === 1, 'gmail.connected')
  t.match(receiver.ofType('gmail.connected')[0]!.body.data, { userId: ctx.user.id, googleEmail: ALICE.email })

  const delivered = ctx.google.state.push.deliver(ctx.google.state.findUser(ALICE.email)!, { subject: 'Your receipt: $42.10', body: 'Secret body text' })
  t.ok(delivered.push, 'the emulator pushed to /google/pubsub')
  await waitFor(() => receiver.ofType('gmail.message.added').length === 1, 'gmail.message.added')
  const added = receiver.ofType('gmail.message.added')[0]!
  t.same(added.body.data, {
    userId: ctx.user.id, googleEmail: ALICE.email, messageId: delivered.message.id, threadId: delivered.message.threadId, historyId: delivered.message.historyId
  })
  t.match(added.headers['webhook-id'], /^msg_/)
  t.match(added.headers['webhook-signature'], /^v1,/)
  t.notMatch(added.raw, /receipt|42\.10|Secret body/i, 'no message content in the webhook')

  // Pub/Sub delivers at least once: the same messageId again is acknowledged and does nothing.
  const before = gmailCalls(ctx)
  ctx.google.state.push.redeliver(delivered.push!.messageId)
  await waitFor(() => ctx.google.state.push.pending === 0, 'the redelivery')
  await ctx.app.webhookDeliverer!.idle()
  t.equal(gmailCalls(ctx), before, 'no Gmail call for a repeated messageId')
  t.equal(receiver.ofType('gmail.message.added').length, 1, 'still one event')

  // A second message, a second event; the stored historyId moved on.
  const second = ctx.google.state.push.deliver(ctx.google.state.findUser(ALICE.email)!, {})
  await waitFor(() => receiver.ofType('gmail.message.added').length === 2, 'the second message')
  t.equal(receiver.ofType('gmail.message.added')[1]!.body.data.messageId, second.message.id)
  const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  t.equal(row.historyId, second.message.historyId)

  const held = await ctx.app.vault.get(ctx.user.id)
  for (const line of [...ctx.logs, ...receiver.received.map((r) => r.raw)]) {
    if (line.includes(held!.accessToken) || line.includes(held!.refreshToken) || line.includes(hook.secret)) t.fail(`a secret leaked: ${line.slice(0, 200)}`)
  }
  t.same(receiver.rejected, [], 'every delivery verified')
  // Nor any message content in the server's log (debug level: every line the app writes).
  t.ok(ctx.logs.some((line) => line.includes('Gmail push handled')), 'the push was logged')
  for (const line of ctx.logs) {
    if (/Your receipt|42\.10|Secret body|Hello from the emulator/i.test(line)) t.fail(`message content in a log line: ${line.slice(0, 200)}`)
  }
})

test('forged or foreign pushes do nothing: no Gmail call, 401/403', async (t) => {
  const ctx = await buildPushApp(t)
  await connectWithTokens(ctx)
  await waitFor(() => ctx.google.state.push.watches.size === 1, 'the watch')
  const body = JSON.stringify({ message: { data: Buffer.from(JSON.stringify({ emailAddress: ALICE.email, historyId: 1 })).toString('base64'), messageId: '42' }, subscription: 'projects/x/subscriptions/y' })
  const post = async (authorization?: string) => await fetch(`${ctx.url}/google/pubsub`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body
  })
  const before = gmailCalls(ctx)
  const sign = (sub: { endpoint: string, audience?: string, serviceAccountEmail: string }) => `Bearer ${ctx.google.state.push.oidcToken(sub)}`
  t.equal((await post()).status, 401, 'no token')
  t.equal((await post('Bearer not.a.jwt')).status, 401, 'junk token')
  t.equal((await post(sign({ endpoint: 'x', audience: 'https://elsewhere.example/push', serviceAccountEmail: PUSH_SA }))).status, 401, 'another audience')
  t.equal((await post(sign({ endpoint: 'x', audience: AUDIENCE, serviceAccountEmail: 'attacker@evil.iam.gserviceaccount.com' }))).status, 403, 'another service account')
  // Google's ID tokens are signed by the same keys: one minted for our OAuth client is not a push token.
  const idToken = ctx.google.state.mintIdToken({ user: ALICE.email, aud: AUDIENCE })
  t.equal((await post(`Bearer ${idToken}`)).status, 403, 'a user ID token with our audience has no service-account email')
  // A token whose signature does not match (payload swapped).
  const good = ctx.google.state.push.oidcToken({ endpoint: 'x', audience: AUDIENCE, serviceAccountEmail: PUSH_SA })
  const [h, , s] = good.split('.')
  const forgedPayload = Buffer.from(JSON.stringify({ iss: 'https://accounts.google.com', aud: AUDIENCE, email: PUSH_SA, email_verified: true, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')
  t.equal((await post(`Bearer ${h}.${forgedPayload}.${s}`)).status, 401, 'bad signature')
  t.equal(gmailCalls(ctx), before, 'no Gmail call for any of them')
  t.equal(await ctx.app.prisma.pubsubMessage.count(), 0, 'nothing recorded')

  // Hostile bodies with a valid token: 400, never 500.
  const auth = sign({ endpoint: 'x', audience: AUDIENCE, serviceAccountEmail: PUSH_SA })
  for (const hostile of ['', '{', 'null', '{"message":{"data":"\\u0000","messageId":"1"}}', '{"message":{"data":"e30=","messageId":"1"}}', JSON.stringify({ message: { data: 'x'.repeat(20_000) } })]) {
    const res = await fetch(`${ctx.url}/google/pubsub`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: hostile })
    t.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(hostile.slice(0, 40))} → ${res.status}`)
  }
  // The body's address only selects a connection: an address we hold nothing for is acknowledged and ignored.
  const stranger = JSON.stringify({ message: { data: Buffer.from(JSON.stringify({ emailAddress: BOB.email, historyId: 999999999 })).toString('base64'), messageId: '77' } })
  const res = await fetch(`${ctx.url}/google/pubsub`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: stranger })
  t.equal(res.status, 204)
  t.equal(gmailCalls(ctx), before, 'still no Gmail call')
})

test('history too old (Gmail 404): one gmail.sync_required and a fresh start from the profile', async (t) => {
  const ctx = await buildPushApp(t)
  const receiver = await webhookReceiver(t)
  const client = await ctx.app.serviceClients.create('AI mail', true, true)
  receiver.useSecret((await ctx.app.webhookEndpoints.create(client.clientId, receiver.url, ['gmail.sync_required', 'gmail.message.added'])).secret)
  await connectWithTokens(ctx)
  await waitFor(() => ctx.google.state.push.watches.size === 1, 'the watch')
  const alice = ctx.google.state.findUser(ALICE.email)!
  ctx.google.state.push.deliver(alice, {})
  ctx.google.state.push.expireHistory(alice)
  await waitFor(() => receiver.ofType('gmail.sync_required').length === 1, 'gmail.sync_required')
  t.equal(receiver.ofType('gmail.message.added').length, 0, 'no message event from a history Gmail no longer has')
  t.match(receiver.ofType('gmail.sync_required')[0]!.body.data, { userId: ctx.user.id, historyId: alice.historyId })
  t.same(receiver.received.map((r) => r.body.type).filter((x) => x === 'gmail.connected'), [], 'filtered by the endpoint\'s event types')
  const after = ctx.google.state.push.deliver(alice, {})
  await waitFor(() => receiver.ofType('gmail.message.added').length === 1, 'the next message')
  t.equal(receiver.ofType('gmail.message.added')[0]!.body.data.messageId, after.message.id)
})

test('disconnect stops the watch and emits gmail.disconnected', async (t) => {
  const ctx = await buildPushApp(t)
  const receiver = await webhookReceiver(t)
  const client = await ctx.app.serviceClients.create('AI mail', true, true)
  receiver.useSecret((await ctx.app.webhookEndpoints.create(client.clientId, receiver.url, [])).secret)
  await connectWithTokens(ctx)
  await waitFor(() => ctx.google.state.push.watches.size === 1, 'the watch')
  const res = await gql(ctx.app, DisconnectGmailDocument, {}, { token: ctx.user.accessToken })
  t.notOk(res.errors)
  t.equal(ctx.google.state.push.watches.size, 0, 'users.stop was called')
  await waitFor(() => receiver.ofType('gmail.disconnected').length === 1, 'gmail.disconnected')
  t.same(receiver.ofType('gmail.disconnected')[0]!.body.data, { userId: ctx.user.id, googleEmail: ALICE.email })
})

test('watches are renewed daily, by one process per mailbox', async (t) => {
  const ctx = await buildPushApp(t)
  await connectWithTokens(ctx)
  const row = async () => await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })
  await waitFor(async () => (await row()).watchExpiresAt != null, 'the watch')
  const first = await row()
  t.ok(first.watchExpiresAt!.getTime() > Date.now() + 6 * 86_400_000, 'Gmail\'s 7-day expiry is kept')
  const watchCalls = () => ctx.google.state.stats().requests.gmail ?? 0
  const calls = watchCalls()
  ctx.clock.advance(23 * 3_600_000)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(watchCalls(), calls, 'not renewed before a day')
  ctx.clock.advance(2 * 3_600_000)
  await waitFor(async () => (await row()).watchRenewAt!.getTime() > first.watchRenewAt!.getTime() + 12 * 3_600_000, 'the renewal')
  t.ok(watchCalls() > calls, 'renewed after a day')
  t.equal((await row()).historyId, first.historyId, 'a renewal keeps the stored historyId')
})

test('two pushes racing for one mailbox lose no message: the one whose history is older syncs again', async (t) => {
  const ctx = await buildPushApp(t)
  await connectWithTokens(ctx)
  await waitFor(async () => (await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })).historyId != null, 'the watch')
  const sub = ctx.google.state.push.subscription!
  // The test pushes itself, to order things: the emulator delivers mail without pushing.
  ctx.google.state.push.subscription = undefined
  const alice = ctx.google.state.findUser(ALICE.email)!
  let n = 0
  const push = async () => await fetch(`${ctx.url}/google/pubsub`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.google.state.push.oidcToken(sub)}` },
    body: JSON.stringify({ message: { data: Buffer.from(JSON.stringify({ emailAddress: ALICE.email, historyId: Number(alice.historyId) })).toString('base64'), messageId: `race-${++n}` } })
  })
  const m1 = ctx.google.state.push.deliver(alice, {}).message
  // Push B reads the stored historyId, then Gmail holds its history call; meanwhile push A records m1 and a second
  // message arrives. B's history (m1, m2) starts at a historyId that is no longer the stored one.
  ctx.google.state.addFault({ endpoint: 'gmail', kind: 'delay', delayMs: 3000, times: 1 })
  const b = push()
  await waitFor(() => ctx.google.state.stats().faultsInjected === 1, 'B held at Gmail')
  t.equal((await push()).status, 204, 'A')
  const m2 = ctx.google.state.push.deliver(alice, {}).message
  t.equal((await b).status, 204, 'B')
  const events = await ctx.app.prisma.webhookEvent.findMany({ where: { type: 'gmail.message.added' }, orderBy: { createdAt: 'asc' } })
  t.same(events.map((e) => (e.data as { messageId: string }).messageId), [m1.id, m2.id], 'each message once, none lost')
  t.equal((await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: ctx.user.id } })).historyId, m2.historyId)
})
