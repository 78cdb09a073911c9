import { test } from 'tap'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { LogoutDocument, MeDocument } from '../support/generated/graphql.ts'

// Issue 25 item 2: one home for the session rules (src/sessions/live-session.ts), revoke reasons as a database enum,
// logout's audit events written by the sessions service like login's.

test('account deletion ends sessions with a reason the enum knows; an unknown reason is refused by the database', async (t) => {
  const { app } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  t.equal(await app.accountDeletion.request(s.user.id, 'user'), true)
  const sessions = await app.prisma.session.findMany({ where: { userId: s.user.id } })
  t.same(sessions.map((x) => x.revokedReason), ['ACCOUNT_DELETED'], 'the deletion\'s reason is stored as the enum value')
  // Before the enum the column was free text: any string went in.
  await t.rejects(app.prisma.$executeRaw`UPDATE sessions SET revoked_reason = 'SOMETHING_ELSE' WHERE user_id = ${s.user.id}::uuid`)
})

test('the sessions service writes logout\'s events, through GraphQL or called directly', async (t) => {
  const { app } = await buildTestApp(t)
  const a = await signUp(app, 'NATIVE')
  t.equal((await gql(app, LogoutDocument, { everywhere: false }, { token: a.accessToken })).errors, undefined)
  const b = await signUp(app, 'NATIVE')
  await app.sessionsService.logout(b.user.id, b.sessionId, true, { ip: '203.0.113.7' })
  const events = await app.prisma.securityEvent.findMany({ where: { type: { in: ['LOGOUT', 'LOGOUT_EVERYWHERE'] } }, orderBy: { createdAt: 'asc' } })
  t.same(events.map((e) => [e.type, e.userId]), [['LOGOUT', a.user.id], ['LOGOUT_EVERYWHERE', b.user.id]])
  t.same(events[1]?.detail, { sessionsRevoked: 1 })
  t.equal(events[1]?.ip, '203.0.113.7')
  const reasons = await app.prisma.session.findMany({ where: { userId: { in: [a.user.id, b.user.id] } }, select: { userId: true, revokedReason: true } })
  t.same(new Set(reasons.map((r) => r.revokedReason)), new Set(['LOGOUT', 'LOGOUT_EVERYWHERE']))
  t.match((await gql(app, MeDocument, {}, { token: b.accessToken })).errors?.[0]?.extensions, { code: 'UNAUTHENTICATED' })
})
