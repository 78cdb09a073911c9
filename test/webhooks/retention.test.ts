import { test } from 'tap'
import { ManualClock } from '../../src/clock.ts'
import { parseEnv } from '../../src/config.ts'
import { recordEvents } from '../../src/webhooks/outbox.ts'
import { buildTestApp, signUp } from '../helper.ts'

// Issue 23, pruning: Pub/Sub messageIds after 7 days, settled webhook deliveries (and then their events) after
// WEBHOOK_RETENTION_DAYS, pending deliveries never; deletes in batches. The rows are the deliverer's states written
// directly (its own behaviour is test/webhooks/delivery.test.ts's), on a clock the test moves.

const DAY = 86_400_000

test('retention prunes old Pub/Sub ids and settled deliveries and events, never a pending one, in batches', async (t) => {
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'))
  // No deliverer in this app: the rows keep the states the test gives them.
  const { app, logs } = await buildTestApp(t, { clock, env: { WEBHOOK_DELIVERY_ENABLED: 'false', WEBHOOK_RETENTION_DAYS: '10' } })
  const { user } = await signUp(app, 'NATIVE')
  const client = await app.serviceClients.create('Backend', true, true)
  const hook = await app.webhookEndpoints.create(client.clientId, 'http://127.0.0.1:9/hooks', [])
  const prisma = app.prisma
  const count = async () => ({
    pubsub: await prisma.pubsubMessage.count(),
    delivered: await prisma.webhookDelivery.count({ where: { state: 'DELIVERED' } }),
    failed: await prisma.webhookDelivery.count({ where: { state: 'FAILED' } }),
    pending: await prisma.webhookDelivery.count({ where: { state: 'PENDING' } }),
    events: await prisma.webhookEvent.count()
  })

  // Day 0: 5 Pub/Sub ids; 8 events fanned out: 5 delivered, 1 given up, 1 pending (a retry waiting), 1 to nobody;
  // and 1 event not fanned out yet. (Signing up wrote no event: no Gmail connection.)
  const day0 = clock.now()
  await prisma.pubsubMessage.createMany({ data: Array.from({ length: 5 }, (_, i) => ({ messageId: `old-${i}`, receivedAt: day0 })) })
  await prisma.$transaction(async (tx) => {
    await recordEvents(tx, Array.from({ length: 9 }, (_, i) => ({ type: 'gmail.message.added' as const, userId: user.id, data: { userId: user.id, messageId: `m${i}` } })))
  })
  const events = await prisma.webhookEvent.findMany({ orderBy: { data: 'asc' } })
  t.equal(events.length, 9)
  await prisma.webhookEvent.updateMany({ where: { id: { in: events.slice(0, 8).map((e) => e.id) } }, data: { createdAt: day0, dispatchedAt: day0 } })
  await prisma.webhookEvent.updateMany({ where: { id: events[8]!.id }, data: { createdAt: day0 } })
  const states = ['DELIVERED', 'DELIVERED', 'DELIVERED', 'DELIVERED', 'DELIVERED', 'FAILED', 'PENDING'] as const
  await prisma.webhookDelivery.createMany({
    data: states.map((state, i) => ({
      id: `msg_${i}`,
      eventId: events[i]!.id,
      endpointId: hook.id,
      state,
      attempts: 1,
      createdAt: day0,
      nextAttemptAt: day0,
      deliveredAt: state === 'DELIVERED' ? day0 : null
    }))
  })
  t.same(await count(), { pubsub: 5, delivered: 5, failed: 1, pending: 1, events: 9 })

  // Day 6: nothing is old enough.
  clock.advance(6 * DAY)
  await prisma.pubsubMessage.create({ data: { messageId: 'recent', receivedAt: clock.now() } })
  t.same(await app.eventRetention.prune(2), { pubsubMessages: 0, riscEventIds: 0, webhookDeliveries: 0, webhookEvents: 0 })

  // Day 8: Pub/Sub ids older than 7 days go (batches of 2: three statements), the recent one stays.
  clock.advance(2 * DAY)
  t.same(await app.eventRetention.prune(2), { pubsubMessages: 5, riscEventIds: 0, webhookDeliveries: 0, webhookEvents: 0 })
  t.same((await prisma.pubsubMessage.findMany()).map((m) => m.messageId), ['recent'])

  // Day 11: past WEBHOOK_RETENTION_DAYS=10. Delivered and given-up deliveries go, then their events and the one
  // fanned out to nobody; the pending delivery, its event and the event not fanned out yet stay.
  clock.advance(3 * DAY)
  t.same(await app.eventRetention.prune(2), { pubsubMessages: 0, riscEventIds: 0, webhookDeliveries: 6, webhookEvents: 7 })
  t.same(await count(), { pubsub: 1, delivered: 0, failed: 0, pending: 1, events: 2 })
  const left = await prisma.webhookEvent.findMany({ include: { deliveries: true } })
  t.same(left.map((e) => [e.id, e.deliveries.map((d) => d.state)]).sort(), [[events[6]!.id, ['PENDING']], [events[8]!.id, []]].sort())
  t.ok(logs.some((l) => l.includes('event tables pruned')), 'a pass that pruned says how much')

  // A year later the pending one is still there; once delivered it ages out like the rest.
  clock.advance(365 * DAY)
  await app.eventRetention.prune()
  t.same(await count(), { pubsub: 0, delivered: 0, failed: 0, pending: 1, events: 2 })
  await prisma.webhookDelivery.updateMany({ where: { id: 'msg_6' }, data: { state: 'DELIVERED', nextAttemptAt: clock.now(), deliveredAt: clock.now() } })
  clock.advance(9 * DAY)
  t.same(await app.eventRetention.prune(), { pubsubMessages: 0, riscEventIds: 0, webhookDeliveries: 0, webhookEvents: 0 }, 'kept WEBHOOK_RETENTION_DAYS after its delivery')
  clock.advance(2 * DAY)
  t.same(await app.eventRetention.prune(), { pubsubMessages: 0, riscEventIds: 0, webhookDeliveries: 1, webhookEvents: 1 })
  t.same((await prisma.webhookEvent.findMany()).map((e) => e.id), [events[8]!.id], 'an event not fanned out is never pruned')
})

test('WEBHOOK_RETENTION_DAYS: default 30, validated at boot', async (t) => {
  t.equal(parseEnv({}).WEBHOOK_RETENTION_DAYS, 30)
  t.equal(parseEnv({ WEBHOOK_RETENTION_DAYS: '7' }).WEBHOOK_RETENTION_DAYS, 7)
  t.throws(() => parseEnv({ WEBHOOK_RETENTION_DAYS: '0' }), /WEBHOOK_RETENTION_DAYS/)
  t.throws(() => parseEnv({ WEBHOOK_RETENTION_DAYS: 'forever' }), /WEBHOOK_RETENTION_DAYS/)
})

test("retention prunes Google RISC jtis once their SET is too old to be accepted again, never Apple's", async (t) => {
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'))
  const { app } = await buildTestApp(t, { clock, env: { WEBHOOK_DELIVERY_ENABLED: 'false', RISC_MAX_EVENT_AGE_SECONDS: String(7 * 86_400) } })
  const prisma = app.prisma
  const day0 = clock.now()
  // Apple's notifications carry no age bound: their dedupe row is what refuses a replay (src/apple-notifications/).
  await prisma.receivedSecurityEvent.createMany({
    data: [{ jti: 'risc-a', eventTypes: ['x'], receivedAt: day0 }, { jti: 'risc-b', eventTypes: ['x'], receivedAt: day0 }, { jti: 'apple:c', eventTypes: ['x'], receivedAt: day0 }]
  })
  const kept = async () => (await prisma.receivedSecurityEvent.findMany({ orderBy: { jti: 'asc' } })).map((r) => r.jti)

  // 7 days and 23 hours later a SET received on day 0 could still be within its age (its iat up to 5 minutes ahead).
  clock.advance(8 * DAY - 3_600_000)
  t.match(await app.eventRetention.prune(1), { riscEventIds: 0 })
  t.same(await kept(), ['apple:c', 'risc-a', 'risc-b'])
  // Past RISC_MAX_EVENT_AGE_SECONDS and a day of margin: the RISC rows go, in batches (of 1 here), Apple's stays.
  clock.advance(3_600_000 + 1)
  t.match(await app.eventRetention.prune(1), { riscEventIds: 2 })
  t.same(await kept(), ['apple:c'])
})
