import { test } from 'tap'
import { Webhook } from 'standardwebhooks'
import { ManualClock } from '../../src/clock.ts'
import { WebhookDeliverer } from '../../src/webhooks/deliverer.ts'
import { checkEndpointAddresses, checkEndpointUrl } from '../../src/webhooks/endpoint-url.ts'
import { recordEvents } from '../../src/webhooks/outbox.ts'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { AuthorizeServiceDocument, RevokeServiceAuthorizationDocument } from '../support/generated/graphql.ts'
import { webhookReceiver } from '../events/support.ts'
import { waitFor } from '../support/wait-for.ts'

// Issue 23 item 3: at least once, durable, leased; retries with the same webhook-id; endpoints disabled after days.

async function setup (t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}) {
  const clock = new ManualClock()
  const { app, logs } = await buildTestApp(t, { clock, env: { WEBHOOK_POLL_INTERVAL_MS: '20', WEBHOOK_TIMEOUT_MS: '30000', ...env } })
  const user = await signUp(app, 'NATIVE')
  const client = await app.serviceClients.create('Backend', true, true)
  return { app, logs, clock, user: user.user, client }
}

const emit = async (app: Awaited<ReturnType<typeof setup>>['app'], userId: string, n = 1) => {
  await app.prisma.$transaction(async (tx) => {
    await recordEvents(tx, Array.from({ length: n }, (_, i) => ({ type: 'gmail.message.added' as const, userId, data: { userId, messageId: `m${i}` } })))
  })
  app.webhookDeliverer!.wake()
}

test('a receiver down for a while gets every event after it recovers, with the same webhook-id on each retry', async (t) => {
  const { app, clock, user, client } = await setup(t)
  const receiver = await webhookReceiver(t, [503, 503, 500, 503, 503, 500])
  const hook = await app.webhookEndpoints.create(client.clientId, receiver.url, [])
  receiver.useSecret(hook.secret)
  await emit(app, user.id, 3)
  await waitFor(() => receiver.received.length === 3, 'the first attempts')
  await app.webhookDeliverer!.idle()
  t.equal((await app.webhookEndpoints.list())[0]!.status, 'FAILING')
  const firstIds = receiver.received.map((r) => r.id).sort()
  // Nothing is retried before its backoff.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(receiver.received.length, 3)
  clock.advance(10_000)
  await waitFor(() => receiver.received.length === 6, 'the second attempts')
  await app.webhookDeliverer!.idle()
  clock.advance(20_000)
  await waitFor(() => receiver.received.length === 9, 'the third attempts, now answered')
  await app.webhookDeliverer!.idle()
  const ids = receiver.received.map((r) => r.id)
  t.same([...new Set(ids)].sort(), firstIds, 'retries keep their webhook-id')
  const rows = await app.prisma.webhookDelivery.findMany()
  t.same(rows.map((r) => [r.state, r.attempts]), [['DELIVERED', 3], ['DELIVERED', 3], ['DELIVERED', 3]])
  t.equal((await app.webhookEndpoints.list())[0]!.status, 'ACTIVE', 'healthy again')
  const metrics = await app.metrics.registry.getSingleMetricAsString('inboxgate_webhook_deliveries_total')
  t.match(metrics, /outcome="delivered"\} 3/)
  t.match(metrics, /outcome="failed_attempt"\} 6/)
})

test('a delivery whose process died mid-flight (its lease left behind) is delivered once the lease ends', async (t) => {
  const { app, clock, user, client } = await setup(t, { WEBHOOK_DELIVERY_ENABLED: 'false' })
  const receiver = await webhookReceiver(t)
  receiver.useSecret((await app.webhookEndpoints.create(client.clientId, receiver.url, [])).secret)
  await app.prisma.$transaction(async (tx) => { await recordEvents(tx, [{ type: 'gmail.connected', userId: user.id, data: { userId: user.id } }]) })
  const options = { timeoutMs: 30_000, pollIntervalMs: 20, concurrencyPerEndpoint: 4, disableAfterMs: 3 * 86_400_000, production: false }
  const dead = new WebhookDeliverer({ prisma: app.prisma, clock, log: app.log, auditLog: app.auditLog, options })
  await dead.dispatch()
  // The "dead" process claims the delivery, then is never heard of again (as if SIGKILLed before sending).
  const lease = new Date(clock.now().getTime() + 60_000)
  await app.prisma.webhookDelivery.updateMany({ data: { leaseUntil: lease, attempts: 1 } })
  const survivor = new WebhookDeliverer({ prisma: app.prisma, clock, log: app.log, auditLog: app.auditLog, options })
  t.teardown(() => survivor.stop())
  survivor.start()
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(receiver.received.length, 0, 'not while the lease holds')
  clock.advance(60_000)
  await waitFor(() => receiver.received.length === 1, 'the takeover')
  await survivor.idle()
  t.equal((await app.prisma.webhookDelivery.findFirstOrThrow()).state, 'DELIVERED')
})

test('two deliverers on one database send each event once', async (t) => {
  const { app, clock, user, client } = await setup(t, { WEBHOOK_DELIVERY_ENABLED: 'false' })
  const receiver = await webhookReceiver(t)
  receiver.useSecret((await app.webhookEndpoints.create(client.clientId, receiver.url, [])).secret)
  const options = { timeoutMs: 30_000, pollIntervalMs: 10, concurrencyPerEndpoint: 8, disableAfterMs: 3 * 86_400_000, production: false }
  const a = new WebhookDeliverer({ prisma: app.prisma, clock, log: app.log, auditLog: app.auditLog, options })
  const b = new WebhookDeliverer({ prisma: app.prisma, clock, log: app.log, auditLog: app.auditLog, options })
  t.teardown(async () => { await a.stop(); await b.stop() })
  a.start()
  b.start()
  await app.prisma.$transaction(async (tx) => {
    await recordEvents(tx, Array.from({ length: 40 }, (_, i) => ({ type: 'gmail.message.added' as const, userId: user.id, data: { messageId: `m${i}` } })))
  })
  await waitFor(async () => (await app.prisma.webhookDelivery.count({ where: { state: 'DELIVERED' } })) === 40, 'every delivery', 60_000)
  await a.idle()
  await b.idle()
  t.equal(receiver.received.length, 40, 'each once')
  t.equal(new Set(receiver.received.map((r) => r.body.data.messageId)).size, 40)
})

test('an endpoint failing for 3 days is disabled (security event; list says so), then re-enabled and replayed', async (t) => {
  const { app, clock, user, client } = await setup(t)
  const receiver = await webhookReceiver(t, Array(200).fill(500))
  const hook = await app.webhookEndpoints.create(client.clientId, receiver.url, [])
  receiver.useSecret(hook.secret)
  await emit(app, user.id)
  for (let hour = 0; hour <= 74; hour++) {
    await app.webhookDeliverer!.idle()
    clock.advance(3_600_000)
    app.webhookDeliverer!.wake()
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await waitFor(async () => (await app.webhookEndpoints.list())[0]!.status === 'DISABLED', 'disabled')
  const attempts = receiver.received.length
  t.ok(attempts > 10, `retried for days (${attempts} attempts)`)
  t.ok(await app.prisma.securityEvent.findFirst({ where: { type: 'WEBHOOK_ENDPOINT_DISABLED' } }))
  t.equal((await app.prisma.webhookDelivery.findFirstOrThrow()).state, 'FAILED')
  await emit(app, user.id)
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(receiver.received.length, attempts, 'a disabled endpoint gets nothing new')

  const listed = await runAdminCommand(app, ['list-webhooks']) as { webhooks: Array<{ status: string }> }
  t.equal(listed.webhooks[0]!.status, 'DISABLED')
  t.same(await runAdminCommand(app, ['enable-webhook', hook.id]), { id: hook.id, enabled: true })
  const failed = await runAdminCommand(app, ['webhook-deliveries', hook.id, '--failed']) as { deliveries: Array<{ id: string }> }
  t.equal(failed.deliveries.length, 1)
  receiver.received.length = 0
  const replay = receiver.received
  receiver.answer([])
  t.same(await runAdminCommand(app, ['webhook-replay', failed.deliveries[0]!.id]), { replayed: 1 })
  app.webhookDeliverer!.wake()
  await waitFor(() => replay.length === 1, 'the replay')
  t.equal(replay[0]!.id, failed.deliveries[0]!.id, 'the same webhook-id')
})

test('rotating a secret signs with both for 24 hours, then with the new one only', async (t) => {
  const { app, clock, user, client } = await setup(t)
  const receiver = await webhookReceiver(t)
  const hook = await app.webhookEndpoints.create(client.clientId, receiver.url, [])
  receiver.useSecret(hook.secret)
  const rotated = await runAdminCommand(app, ['rotate-webhook-secret', hook.id]) as { secret: string }
  t.not(rotated.secret, hook.secret)
  await emit(app, user.id)
  await waitFor(() => receiver.received.length === 1, 'a delivery verified with the old secret')
  const first = receiver.received[0]!
  t.equal(String(first.headers['webhook-signature']).split(' ').length, 2, 'two signatures during the overlap')
  new Webhook(rotated.secret).verify(first.raw, first.headers as Record<string, string>)
  t.pass('the new secret verifies it too')
  clock.advance(24 * 3_600_000 + 1000)
  receiver.useSecret(rotated.secret)
  await emit(app, user.id)
  await waitFor(() => receiver.received.length === 2, 'a delivery after the overlap')
  t.equal(String(receiver.received[1]!.headers['webhook-signature']).split(' ').length, 1)
  t.throws(() => new Webhook(hook.secret).verify(receiver.received[1]!.raw, receiver.received[1]!.headers as Record<string, string>), 'the old secret no longer verifies')
})

test('a revoked client and a deleted endpoint receive nothing; the secret never reaches a log', async (t) => {
  const { app, logs, user, client } = await setup(t)
  const receiver = await webhookReceiver(t)
  const hook = await app.webhookEndpoints.create(client.clientId, receiver.url, [])
  receiver.useSecret(hook.secret)
  await app.serviceClients.revoke(client.clientId)
  await emit(app, user.id)
  await app.webhookDeliverer!.idle()
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(receiver.received.length, 0)
  t.equal(await app.prisma.webhookEvent.count({ where: { dispatchedAt: null } }), 0, 'the event was handled (for nobody)')
  t.notOk(logs.some((l) => l.includes(hook.secret)))
})

test('admin commands: create-webhook refuses bad input; production refuses http and private addresses', async (t) => {
  const { app, client } = await setup(t)
  await t.rejects(runAdminCommand(app, ['create-webhook', client.clientId, 'ftp://x.example/hook']), /http\(s\)/)
  await t.rejects(runAdminCommand(app, ['create-webhook', client.clientId, 'https://x.example/hook', '--evnets', 'gmail.connected']), /unknown option --evnets/)
  await t.rejects(runAdminCommand(app, ['create-webhook', client.clientId, 'https://x.example/hook', '--events', 'gmail.everything']), /unknown event type/)
  await t.rejects(runAdminCommand(app, ['create-webhook', 'igc_nobody', 'https://x.example/hook']), /no active service client/)
  const created = await runAdminCommand(app, ['create-webhook', client.clientId, 'https://x.example/hook', '--events', 'gmail.message.added,user.deleted']) as { id: string, secret: string }
  t.match(created, { id: /^wh_/, secret: /^whsec_/ })
  const listed = JSON.stringify(await runAdminCommand(app, ['list-webhooks']))
  t.notOk(listed.includes(created.secret), 'list never shows a secret')
  t.same(await runAdminCommand(app, ['delete-webhook', created.id]), { id: created.id, deleted: true })

  t.throws(() => checkEndpointUrl('http://hooks.example.com/x', true), /https/)
  t.throws(() => checkEndpointUrl('https://user:pw@hooks.example.com/x', true), /credentials/)
  for (const address of ['https://127.0.0.1/x', 'https://10.1.2.3/x', 'https://169.254.169.254/latest', 'https://[::1]/x', 'https://[fd00::1]/x', 'https://192.168.1.1/', 'https://[::ffff:127.0.0.1]/x', 'https://localhost/x']) {
    await t.rejects(checkEndpointAddresses(new URL(address)), /non-public/, address)
  }
  await t.resolves(checkEndpointAddresses(new URL('https://93.184.215.14/x')), 'a public address passes')
})

test('a slow endpoint never delays another; queue depth and oldest-pending age are exported', async (t) => {
  const { app, user, client } = await setup(t, { WEBHOOK_CONCURRENCY_PER_ENDPOINT: '2' })
  const fast = await webhookReceiver(t)
  fast.useSecret((await app.webhookEndpoints.create(client.clientId, fast.url, [])).secret)
  // An endpoint that accepts connections and never answers.
  const { createServer } = await import('node:http')
  const hung: Array<{ destroy: () => void }> = []
  const slow = createServer((_req, res) => { hung.push(res) })
  slow.listen(0, '127.0.0.1')
  await new Promise((resolve) => slow.once('listening', resolve))
  t.teardown(() => new Promise((resolve) => { for (const r of hung) r.destroy(); slow.closeAllConnections(); slow.close(resolve) }))
  const port = (slow.address() as { port: number }).port
  await app.webhookEndpoints.create(client.clientId, `http://127.0.0.1:${port}/`, [])
  await emit(app, user.id, 6)
  await waitFor(() => fast.received.length === 6, 'every event at the fast endpoint')
  t.equal(hung.length, 2, 'the slow endpoint holds only its concurrency limit')
  const metrics = await app.metrics.registry.metrics()
  t.match(metrics, /inboxgate_webhook_queue_depth \d+/)
  t.match(metrics, /inboxgate_webhook_oldest_pending_seconds \d/)
  t.match(metrics, /inboxgate_webhook_delivery_seconds_bucket/)
})

test('a client receives events only about users who authorized it; an ended authorization is told to that client alone', async (t) => {
  const { app, user } = await setup(t)
  const signedIn = await signUp(app, 'NATIVE')
  const stranger = await app.serviceClients.create('Stranger', true)
  const chosen = await app.serviceClients.create('Chosen', true)
  const strangerHook = await webhookReceiver(t)
  strangerHook.useSecret((await app.webhookEndpoints.create(stranger.clientId, strangerHook.url, [])).secret)
  const chosenHook = await webhookReceiver(t)
  chosenHook.useSecret((await app.webhookEndpoints.create(chosen.clientId, chosenHook.url, [])).secret)

  await emit(app, signedIn.user.id)
  await app.webhookDeliverer!.idle()
  t.equal(await app.prisma.webhookEvent.count({ where: { dispatchedAt: null } }), 0, 'dispatched')
  t.equal(strangerHook.received.length + chosenHook.received.length, 0, 'no client hears of a user who authorized none')

  const authorized = await gql(app, AuthorizeServiceDocument, { clientId: chosen.clientId }, { token: signedIn.accessToken })
  t.notOk(authorized.errors, 'authorizeService right after sign-in (no step-up needed)')
  await emit(app, signedIn.user.id)
  await waitFor(() => chosenHook.received.length === 1, 'the authorized client')
  await emit(app, user.id)
  await app.webhookDeliverer!.idle()
  t.equal(chosenHook.received.length, 1, 'nothing about another user')
  t.equal(strangerHook.received.length, 0, 'nothing to a client the user did not authorize')

  const revoked = await gql(app, RevokeServiceAuthorizationDocument, { clientId: chosen.clientId }, { token: signedIn.accessToken })
  t.notOk(revoked.errors)
  await waitFor(() => chosenHook.ofType('service.authorization_revoked').length === 1, 'service.authorization_revoked')
  t.same(chosenHook.ofType('service.authorization_revoked')[0]!.body.data, { userId: signedIn.user.id, clientId: chosen.clientId })
  await emit(app, signedIn.user.id)
  await app.webhookDeliverer!.idle()
  t.equal(chosenHook.ofType('gmail.message.added').length, 1, 'nothing more once revoked')
  t.equal(strangerHook.received.length, 0, 'the revocation went to its client alone')
})
