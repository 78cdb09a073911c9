import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { test } from 'tap'
import { GrantLeaseBusyError, GrantLeaseLostError, grantHashOf, withGrantLock } from '../../src/gmail/grant-lock.ts'
import { gql, signUp } from '../helper.ts'
import { MeDocument } from '../support/generated/graphql.ts'
import { ALICE, buildGmailApp, connectWithTokens, GMAIL_READONLY, IOS } from './helpers.ts'
import type { GmailTestContext } from './helpers.ts'

// docs/security.md item 29: the grant lock is a lease (gmail_grant_leases), so no pooled connection or transaction
// is held while Google or the vault answers. On PGlite by default; the pool test needs TEST_DATABASE_URL.

const NEAR_EXPIRY_MS = 57 * 60_000
const GOOGLE_SLOW_MS = 10_000
const pgUrl = process.env.TEST_DATABASE_URL
const onPostgres = pgUrl != null && pgUrl !== ''

async function whileGoogleHolds (ctx: GmailTestContext, n: number): Promise<void> {
  const deadline = Date.now() + 60_000
  while (ctx.google.state.stats().faultsInjected < n) {
    if (Date.now() > deadline) throw new Error(`only ${ctx.google.state.stats().faultsInjected} of ${n} requests reached Google`)
    await sleep(10)
  }
}

/** Tracks whether a promise has settled, without awaiting it. */
function pending<T> (p: Promise<T>): { settled: () => boolean, done: Promise<unknown> } {
  let settled = false
  const done = p.then(() => { settled = true }, () => { settled = true })
  return { settled: () => settled, done }
}

test('PGlite too: another user\'s `me` answers while one user\'s refresh waits 10 s on Google', async (t) => {
  const ctx = await buildGmailApp(t, { env: { GOOGLE_TIMEOUT_MS: '20000' } })
  t.equal((await connectWithTokens(ctx)).errors, undefined)
  const other = await signUp(ctx.app, 'NATIVE')
  ctx.clock.advance(NEAR_EXPIRY_MS)
  ctx.google.state.resetStats()
  ctx.google.state.addFault({ endpoint: 'token', kind: 'delay', delayMs: GOOGLE_SLOW_MS, times: 1 })

  const refresh = pending(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id))
  await whileGoogleHolds(ctx, 1)
  const started = performance.now()
  const me = await gql(ctx.app, MeDocument, {}, { token: other.accessToken })
  const elapsed = performance.now() - started
  t.equal(me.errors, undefined)
  t.equal(me.data?.me.id, other.user.id, 'the other user is answered')
  // Before the lease, this query waited for the refresh's transaction (PGlite has one connection).
  t.equal(refresh.settled(), false, `answered (in ${elapsed.toFixed(0)} ms) while the refresh still waits on Google`)
  t.ok(await ctx.app.prisma.grantLease.findUnique({ where: { userId: ctx.user.id } }), 'the refresh holds the lease meanwhile')
  await refresh.done
  t.equal(await ctx.app.prisma.grantLease.count(), 0, 'released once done')
})

test('50 concurrent refreshes held by Google do not starve other requests of a small pool', { skip: onPostgres ? false : 'needs TEST_DATABASE_URL (DB_POOL_MAX applies to PostgreSQL)' }, async (t) => {
  const ctx = await buildGmailApp(t, { env: { GOOGLE_TIMEOUT_MS: '20000', DB_POOL_MAX: '2' } })
  const other = await signUp(ctx.app, 'NATIVE')
  const now = ctx.clock.now()
  // 50 connected users whose tokens expire now: rows and secrets written directly (no Google round trip each).
  const ids: string[] = []
  for (let i = 0; i < 50; i++) {
    const user = await ctx.app.prisma.user.create({ data: { email: `lease-${i}-${randomUUID()}@example.com` } })
    const refreshToken = `1//lease-${randomUUID()}`
    await ctx.app.vault.put(user.id, { version: 1, accessToken: `ya29.${randomUUID()}`, refreshToken, expiryDate: now.getTime(), scope: [GMAIL_READONLY], clientId: IOS.id, googleSub: `sub-${i}`, email: '', obtainedAt: now.getTime() })
    await ctx.app.prisma.gmailConnection.create({
      data: { userId: user.id, state: 'ACTIVE', googleSub: `lease-sub-${randomUUID()}`, clientId: IOS.id, grantedScopes: [GMAIL_READONLY], missingScopes: [], accessTokenExpiresAt: now, vaultVersion: 1, grantHash: grantHashOf(refreshToken) }
    })
    ids.push(user.id)
  }
  ctx.google.state.resetStats()
  // Google holds every refresh 10 s, then refuses the made-up tokens: each ends in the invalid_grant cleanup.
  ctx.google.state.addFault({ endpoint: 'token', kind: 'invalid_grant', delayMs: GOOGLE_SLOW_MS, times: 50 })
  const refreshes = pending(Promise.allSettled(ids.map(async (id) => await ctx.app.gmailConnections.getGmailAccessToken(id))))
  await whileGoogleHolds(ctx, 50)
  t.equal(await ctx.app.prisma.grantLease.count(), 50, 'all 50 leases are held at once, with a pool of 2 connections')

  const timings: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    const me = await gql(ctx.app, MeDocument, {}, { token: other.accessToken })
    timings.push(performance.now() - started)
    t.equal(me.data?.me.id, other.user.id)
  }
  t.equal(refreshes.settled(), false, `answered (${timings.map((ms) => ms.toFixed(0)).join(', ')} ms) while all 50 refreshes wait on Google`)
  // Generous for a shared 2-core machine; before the lease these waited for Google's 10 s (pool exhausted).
  t.ok(Math.max(...timings) < 2000, `each \`me\` well under Google's 10 s (max ${Math.max(...timings).toFixed(0)} ms)`)
  await refreshes.done
  t.equal(await ctx.app.prisma.gmailConnection.count({ where: { userId: { in: ids }, state: 'RECONNECT_REQUIRED' } }), 50, 'every refresh completed its cleanup')
  t.equal(await ctx.app.prisma.grantLease.count(), 0, 'every lease released')
})

test('lease rules: waiting, expiry of a crashed holder, fencing of a holder whose lease was taken over', async (t) => {
  const ctx = await buildGmailApp(t)
  const prisma = ctx.app.prisma
  const userId = ctx.user.id
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)

  await t.test('a live lease of another holder is waited for, within one holder\'s worth', async (t) => {
    await prisma.grantLease.create({ data: { userId, holder: 'someone-else', expiresAt: new Date(Date.now() + 60_000) } })
    const started = Date.now()
    await t.rejects(withGrantLock(prisma, userId, 300, async () => 'never'), GrantLeaseBusyError)
    t.ok(Date.now() - started >= 250, 'gave up only after waiting')
    await prisma.grantLease.deleteMany({ where: { userId } })
  })

  await t.test('a waiter gets the lease as soon as the holder releases it', async (t) => {
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const order: string[] = []
    const first = withGrantLock(prisma, userId, 10_000, async () => { order.push('first'); await held; order.push('first done') })
    while (order.length === 0) await sleep(5)
    const second = withGrantLock(prisma, userId, 10_000, async () => { order.push('second') })
    await sleep(100)
    t.same(order, ['first'], 'the second waits')
    release()
    await Promise.all([first, second])
    t.same(order, ['first', 'first done', 'second'])
  })

  await t.test('a crashed holder\'s expired lease is taken over at once', async (t) => {
    await prisma.grantLease.create({ data: { userId, holder: 'crashed', expiresAt: new Date(Date.now() - 1000) } })
    const started = Date.now()
    t.equal(await withGrantLock(prisma, userId, 10_000, async () => 'taken'), 'taken')
    t.ok(Date.now() - started < 5000)
    t.equal(await prisma.grantLease.count({ where: { userId } }), 0)
  })

  await t.test('a holder that dies blocks its user for the lease TTL, not for the whole hold period', async (t) => {
    // A refresh may hold the lease for minutes (Google's retries), but the row only ever runs 15 s ahead: a
    // heartbeat extends it while the holder lives. A SIGKILLed server's lease is taken over within 15 s.
    const expiry = await withGrantLock(prisma, userId, 110_000, async () => (await prisma.grantLease.findUniqueOrThrow({ where: { userId } })).expiresAt.getTime())
    t.ok(expiry <= Date.now() + 15_000, `the lease runs ${expiry - Date.now()} ms ahead, at most the 15 s TTL`)
  })

  await t.test('a live holder working past the TTL keeps its lease: the heartbeat extends it', async (t) => {
    const order: string[] = []
    const first = withGrantLock(prisma, userId, 5000, async () => { order.push('first'); await sleep(1200); order.push('first done') }, 300)
    while (order.length === 0) await sleep(5)
    await withGrantLock(prisma, userId, 5000, async () => { order.push('second') }, 300)
    await first
    t.same(order, ['first', 'first done', 'second'], 'the second waited four TTLs for the live holder')
  })

  await t.test('a holder whose lease expired and was taken over writes nothing', async (t) => {
    const before = await prisma.gmailConnection.findUniqueOrThrow({ where: { userId } })
    let taker: Promise<unknown> | null = null
    const outcome = await withGrantLock(prisma, userId, 200, async (lease) => {
      await sleep(400) // a slow Google: the lease expires meanwhile
      taker = withGrantLock(prisma, userId, 10_000, async () => { await sleep(300) })
      while (((await prisma.grantLease.findUnique({ where: { userId } }))?.expiresAt.getTime() ?? 0) < Date.now() + 1000) await sleep(5)
      const write = await lease.write(async (tx) => await tx.gmailConnection.update({ where: { userId }, data: { stateReason: 'LATE_WRITE' } })).then(() => 'written', (err: unknown) => err)
      const renew = await lease.renew().then(() => 'renewed', (err: unknown) => err)
      return { write, renew }
    })
    t.type(outcome.write, GrantLeaseLostError, 'the fenced write is refused')
    t.type(outcome.renew, GrantLeaseLostError, 'so is a renewal (a vault write would not follow)')
    t.equal((await prisma.gmailConnection.findUniqueOrThrow({ where: { userId } })).stateReason, before.stateReason, 'nothing was written')
    t.ok(await prisma.grantLease.findUnique({ where: { userId } }), 'the loser\'s release left the new holder\'s lease alone')
    await Promise.resolve(taker)
    t.equal(await prisma.grantLease.count({ where: { userId } }), 0)
  })
})

t.end()
