import t from 'tap'
import { ManualClock } from '../../src/clock.ts'
import { buildTestApp, PASSWORD, signUp } from '../helper.ts'

// Issue 21 item 9: the security log is bounded. Throttled attempts are counted per limit, key and hour (not a row
// each), and events older than SECURITY_EVENT_RETENTION_DAYS are pruned.

const DAY = 86_400_000

t.test('1000 throttled logins write a bounded number of rows, whose counts add up', async (t) => {
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock, env: { LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3', LOGIN_MAX_ATTEMPTS_PER_IP: '5000' } })
  const s = await signUp(app, 'NATIVE')
  const addresses = ['203.0.113.1', '203.0.113.2', '198.51.100.7', '2001:db8:1::1']
  let throttled = 0
  for (let i = 0; i < 1000; i++) {
    const ip = addresses[i % addresses.length]!
    try {
      await app.usersService.login({ email: s.email, password: 'wrong password here' }, 'NATIVE', { ip, userAgent: `bot/${i}` })
    } catch (err) {
      if ((err as { code?: string }).code === 'RATE_LIMITED') throttled++
    }
  }
  t.equal(throttled, 1000 - 3 * addresses.length, 'each address had its 3 attempts, then was throttled')
  await app.auditLog.flush()
  const rows = await app.prisma.securityEvent.findMany({ where: { type: 'LOGIN_RATE_LIMITED' } })
  t.equal(rows.length, addresses.length, 'one row per throttled key (account and address) and hour')
  t.equal(rows.reduce((n, r) => n + r.count, 0), throttled, 'the counts add up to every throttled attempt')
  t.ok(rows.every((r) => r.aggregateKey != null && !r.aggregateKey.includes(s.email) && !r.aggregateKey.includes('203.0.113')), 'the key is opaque')
  t.match(rows[0]!.detail, { email: s.email, limit: 'loginPerAccountAndAddress' })
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'LOGIN_FAILED' } }), 3 * addresses.length)

  // The next hour opens a new row for the same key (the window), still one.
  clock.advance(3_600_000)
  for (let i = 0; i < 50; i++) await t.rejects(app.usersService.login({ email: s.email, password: PASSWORD }, 'NATIVE', { ip: addresses[0]! }), { code: 'RATE_LIMITED' })
  await app.auditLog.flush()
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'LOGIN_RATE_LIMITED' } }), addresses.length + 1)
})

t.test('pruning deletes only events older than SECURITY_EVENT_RETENTION_DAYS, in batches', async (t) => {
  // Rows the app writes itself are stamped by the database's clock: the test clock starts at the same time.
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock, env: { SECURITY_EVENT_RETENTION_DAYS: '30' } })
  const s = await signUp(app, 'NATIVE')
  const now = clock.now().getTime()
  const ages = [400, 31, 30.5, 29.9, 1, 0]
  for (const [i, days] of ages.entries()) {
    await app.prisma.securityEvent.create({ data: { type: 'LOGIN_FAILED', userId: i % 2 === 0 ? s.user.id : null, createdAt: new Date(now - days * DAY), detail: { days } } })
  }
  // Plenty of old rows, to be deleted over several batches.
  await app.prisma.securityEvent.createMany({ data: Array.from({ length: 25 }, (_, i) => ({ type: 'LOGIN_RATE_LIMITED', createdAt: new Date(now - (40 + i) * DAY), count: 5, aggregateKey: `old-${i}` })) })
  const before = await app.prisma.securityEvent.count()

  t.equal(await app.auditLog.prune(new Date(now - 30 * DAY), 7), 25 + 3, 'batches of 7 delete every old row')
  const left = await app.prisma.securityEvent.findMany({ where: { detail: { not: { equals: null } } }, select: { detail: true } })
  t.same(left.map((r) => (r.detail as { days: number }).days).sort((a, b) => a - b), [0, 1, 29.9], 'the recent ones stay')
  t.equal(await app.prisma.securityEvent.count(), before - 28, 'nothing else was touched (sign-up events of today)')

  // The background job's pass (pruneExpired) reads the clock: a month later, everything above is old.
  clock.advance(31 * DAY)
  t.ok(await app.auditLog.pruneExpired() >= 3)
  t.equal(await app.prisma.securityEvent.count(), 0)
})
