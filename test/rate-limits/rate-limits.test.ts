import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'tap'
import { RATE_LIMIT_RULES } from '../../src/rate-limits/rate-limits.ts'
import { buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'
import { buildTestApp } from '../helper.ts'
import { authorizedClient, onBehalfOf, postToken, serviceTokenFor } from '../oauth/helpers.ts'

// Issue 25 item 2: one rate-limit module, a named table of rules used by every limit, no private library field.

test('the rule table: every rule has its own store key prefix and a known kind of key', async (t) => {
  const rules = Object.values(RATE_LIMIT_RULES)
  t.equal(new Set(rules.map((r) => r.prefix)).size, rules.length, 'prefixes are unique (rows of two rules never share a key)')
  for (const r of rules) t.ok(['ip', 'account', 'account-and-address', 'client', 'session', 'device'].includes(r.per), `${r.prefix}: per ${r.per}`)
})

test('no source file reaches into rate-limiter-flexible\'s private fields, and only the module imports it', async (t) => {
  const src = path.resolve(import.meta.dirname, '../../src')
  const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts') && !f.startsWith('generated'))
  for (const f of files) {
    const text = await readFile(path.join(src, f), 'utf8')
    t.notOk(text.includes('_clearExpiredTimeoutId'), `${f}: no private field`)
    if (f !== path.join('rate-limits', 'rate-limits.ts')) t.notOk(text.includes("from 'rate-limiter-flexible'"), `${f}: does not import the library`)
  }
})

test('a token exchange writes no rate-limit row (issue 26 item 2): the per-client limit is in memory', async (t) => {
  const ctx = await buildGmailApp(t, { env: { OAUTH_TOKEN_MAX_PER_CLIENT: '3' } })
  await connectWithTokens(ctx)
  const client = await authorizedClient(ctx.app, [ctx.user.id], 'Backend')
  const subject = onBehalfOf(await serviceTokenFor(ctx.app, ctx.user.accessToken, client.clientId))
  const rows = async () => await ctx.app.prisma.rateLimit.count({ where: { key: { startsWith: 'oauth_client' } } })
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await postToken(ctx.app, client, subject)).statusCode)
  t.same(statuses, [200, 200, 200, 429], 'still bounded per client')
  t.equal(await rows(), 0, 'no database row for the per-client counter')
})

test('expired database counters are swept by the module (the library\'s own timers are off)', async (t) => {
  const { app } = await buildTestApp(t, { env: { LOGIN_MAX_ATTEMPTS_PER_IP: '5' } })
  await app.rateLimits.consume('loginPerIp', { ip: '198.51.100.7' })
  await app.prisma.rateLimit.create({ data: { key: 'login_ip:stale', points: 3, expire: new Date(Date.now() - 2 * 3_600_000) } })
  t.equal(await app.rateLimits.sweepExpired(), 1, 'only the row expired over an hour ago')
  t.equal(await app.prisma.rateLimit.count(), 1, 'the live counter stays')
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 5000, 'closing does not wait for a sweep timer')
})
