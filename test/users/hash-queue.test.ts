import { test } from 'tap'
import { buildTestApp, DEFAULT_HASH_COST, gql, PASSWORD } from '../helper.ts'
import { LoginDocument, SignUpDocument } from '../support/generated/graphql.ts'

// docs/security.md item 28a: the Argon2 queue is bounded (PASSWORD_HASH_QUEUE_MAX); a login flood is refused at
// once with RATE_LIMITED / SERVER_BUSY instead of making every user wait behind it. At the default Argon2 cost
// (the suite's is the cheapest): the burst must find the one slot still busy.

test('a burst of logins beyond the hash queue: some answer SERVER_BUSY at once, the rest log in, nothing else breaks', async (t) => {
  const { app } = await buildTestApp(t, { env: { ...DEFAULT_HASH_COST, PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE_MAX: '2', LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '50' } })
  await gql(app, SignUpDocument, { input: { email: 'flood@example.com', password: PASSWORD, client: 'NATIVE' } })
  const burst = await Promise.all(Array.from({ length: 12 }, async () =>
    await gql(app, LoginDocument, { input: { email: 'flood@example.com', password: PASSWORD, client: 'NATIVE' } })))
  const busy = burst.filter((r) => r.errors?.[0]?.extensions.reason === 'SERVER_BUSY')
  const ok = burst.filter((r) => r.errors == null)
  t.ok(busy.length > 0, `some refused as busy (${busy.length} of 12)`)
  t.ok(ok.length >= 3, `the ones that got a slot logged in (${ok.length})`)
  t.equal(busy.length + ok.length, 12, 'no other outcome (no INVALID_CREDENTIALS from a refused hash)')
  for (const r of busy) {
    t.equal(r.errors?.[0]?.extensions.code, 'RATE_LIMITED')
    t.ok(Number(r.errors?.[0]?.extensions.retryAfterSeconds) >= 1)
    t.equal(r.data, null)
  }
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'LOGIN_FAILED' } }), 0, 'a busy refusal is not a failed login')

  // The flood over: logins, a sign-up and a wrong password answer as usual.
  t.equal((await gql(app, LoginDocument, { input: { email: 'flood@example.com', password: PASSWORD } })).errors, undefined)
  t.equal((await gql(app, SignUpDocument, { input: { email: 'after@example.com', password: PASSWORD } })).errors, undefined)
  t.equal((await gql(app, LoginDocument, { input: { email: 'flood@example.com', password: 'wrong password!' } })).errors?.[0]?.extensions.reason, 'INVALID_CREDENTIALS')
})
