import { test } from 'tap'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { SecurityEventsDocument } from '../support/generated/graphql.ts'
import { errorOf } from './helpers.ts'

// Issue 10, rule 6: the signed-in user's own security log, newest first, nobody else's, capped at 100.

test('securityEvents: own events only, newest first, capped at 100', async (t) => {
  const { app } = await buildTestApp(t)
  const me = await signUp(app, 'NATIVE')
  const other = await signUp(app, 'NATIVE')
  await app.auditLog.record('LOGIN_FAILED', { userId: other.user.id, ip: '198.51.100.7', detail: { email: other.email } })
  for (let i = 0; i < 120; i++) {
    await app.prisma.securityEvent.create({ data: { type: 'LOGIN_SUCCEEDED', userId: me.user.id, ip: '203.0.113.1', userAgent: 'ua', createdAt: new Date(Date.now() - (i + 1) * 60_000) } })
  }
  const res = await gql(app, SecurityEventsDocument, { first: 500 }, { token: me.accessToken })
  t.equal(res.errors, undefined)
  const events = res.data?.securityEvents as Array<{ type: string, createdAt: string, ip: string | null }>
  t.equal(events.length, 100, 'capped')
  t.equal(events[0]!.type, 'SIGN_UP', 'newest first')
  t.ok(events.every((e, i) => i === 0 || e.createdAt <= events[i - 1]!.createdAt))
  t.notOk(events.some((e) => e.ip === '198.51.100.7'), 'nobody else\'s')
  t.equal((await gql(app, SecurityEventsDocument, {}, { token: me.accessToken })).data?.securityEvents.length, 20, 'default 20')
  t.equal((await gql(app, 'query { securityEvents { detail } }', {}, { token: me.accessToken })).errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED', 'no detail field')
  t.equal(errorOf(await gql(app, SecurityEventsDocument))?.code, 'UNAUTHENTICATED')
})
