import { test } from 'tap'
import { buildTestApp, signUp, testDatabasePoolCounts } from '../helper.ts'

// test/helper.ts hands a test app a PGlite another app of the same process has closed, reset. This file checks that
// the reset is as good as a fresh copy of the migrated template: no rows, no session state, no altered schema.
// (On PostgreSQL every app gets a schema of its own and the pool is not used.)
const onPostgres = process.env.TEST_DATABASE_URL != null && process.env.TEST_DATABASE_URL !== ''
const opts = { skip: onPostgres ? 'PGlite only: on PostgreSQL each test app has a schema of its own' : false }

async function rowCounts (app: Awaited<ReturnType<typeof buildTestApp>>['app']) {
  const [users, sessions, events] = await Promise.all([app.prisma.user.count(), app.prisma.session.count(), app.prisma.securityEvent.count()])
  return { users, sessions, events }
}

test('a reused database has none of the previous app\'s rows or session state', opts, async (t) => {
  await t.test('the first app writes rows and leaves session state behind', async (t) => {
    const { app } = await buildTestApp(t)
    await signUp(app, 'NATIVE')
    await signUp(app, 'WEB')
    t.match(await rowCounts(app), { users: 2, sessions: 2 })
    await app.prisma.$executeRawUnsafe('SET statement_timeout = 12345')
    await app.prisma.$queryRawUnsafe('SELECT pg_advisory_lock(4242)::text')
  })
  const before = testDatabasePoolCounts()
  await t.test('the next app gets that database back, as the template was', async (t) => {
    const { app } = await buildTestApp(t)
    t.equal(testDatabasePoolCounts().reused, before.reused + 1, 'the database was reused, not created')
    t.same(await rowCounts(app), { users: 0, sessions: 0, events: 0 }, 'no rows of the previous app')
    const [timeout] = await app.prisma.$queryRawUnsafe<Array<{ statement_timeout: string }>>('SHOW statement_timeout')
    t.equal(timeout?.statement_timeout, '0', 'settings reset')
    // (PGlite has one session, which could take its own lock again: whether it still holds it is what tells.)
    const [lock] = await app.prisma.$queryRawUnsafe<Array<{ held: boolean }>>('SELECT pg_advisory_unlock(4242) AS held')
    t.equal(lock?.held, false, 'advisory locks released')
    const s = await signUp(app, 'NATIVE')
    t.ok(s.accessToken, 'the app works on it')
  })
})

test('a database whose schema a test altered is closed, not reused (its fingerprint differs)', opts, async (t) => {
  await t.test('a test adds a column and drops a trigger, and does not put them back', async (t) => {
    const { app } = await buildTestApp(t)
    await app.prisma.$executeRawUnsafe('ALTER TABLE "users" ADD COLUMN "left_behind" integer')
    const [trigger] = await app.prisma.$queryRawUnsafe<Array<{ name: string, table: string }>>(
      'SELECT tgname AS name, tgrelid::regclass::text AS "table" FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname LIMIT 1')
    t.ok(trigger, 'the migrations create triggers')
    await app.prisma.$executeRawUnsafe(`DROP TRIGGER "${trigger!.name}" ON ${trigger!.table}`)
  })
  const before = testDatabasePoolCounts()
  await t.test('the next app gets a fresh copy', async (t) => {
    const { app } = await buildTestApp(t)
    const after = testDatabasePoolCounts()
    t.equal(after.reused, before.reused, 'not reused')
    t.equal(after.created, before.created + 1, 'a fresh copy of the template')
    const columns = await app.prisma.$queryRawUnsafe<unknown[]>(
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'left_behind'")
    t.equal(columns.length, 0, 'the column added before is not there')
  })
})

test('apps running at the same time each have a database of their own', opts, async (t) => {
  // Built together: at most one can be the database an earlier test's app left in the pool.
  const [a, b] = await Promise.all([buildTestApp(t), buildTestApp(t)])
  await signUp(a.app, 'NATIVE')
  await signUp(a.app, 'NATIVE')
  t.equal(await a.app.prisma.user.count(), 2)
  t.equal(await b.app.prisma.user.count(), 0, 'the other app sees none of them')
})
