import { test } from 'tap'
import { isDatabaseUnavailable } from '../../src/db/prisma-errors.ts'
import { buildTestApp, gql, signUp } from '../helper.ts'
import { MeDocument } from '../support/generated/graphql.ts'

// Which errors mean "the database is away, retry" (DATABASE_UNAVAILABLE) rather than a bug (INTERNAL). The fault
// test test/faults/postgres-restart.fault.ts found node-postgres' "not queryable" errors, thrown raw by the COMMIT or
// ROLLBACK of a Prisma transaction whose connection broke between statements, answered as INTERNAL.

test('node-postgres errors for a broken or closed connection are unavailability', async (t) => {
  for (const message of [
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
    'Client was closed and is not queryable'
  ]) t.ok(isDatabaseUnavailable(new Error(message)), message)
  t.ok(isDatabaseUnavailable({ code: 'P1001', meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable' } } } }), 'Prisma P1001')
  t.ok(isDatabaseUnavailable({ code: 'P2010', meta: { driverAdapterError: { cause: { originalCode: '57P01', kind: 'postgres' } } } }), 'admin shutdown (57P01) inside a raw query')
  t.notOk(isDatabaseUnavailable(new Error('column "x" does not exist')), 'a wrong query is not')
  t.notOk(isDatabaseUnavailable({ code: 'P2002' }), 'a unique violation is not')
  t.notOk(isDatabaseUnavailable(new Error('prefix: Client was closed and is not queryable')), 'only node-postgres\' own wording, at the start')
})

const onPostgres = (process.env.TEST_DATABASE_URL ?? '') !== ''
test('a transaction whose connection is terminated between statements fails as unavailable, not as a bug', {
  skip: onPostgres ? false : 'needs TEST_DATABASE_URL: PGlite has no server connection to terminate (CI runs this on PostgreSQL)'
}, async (t) => {
  const { app } = await buildTestApp(t)
  let failure: unknown = null
  try {
    await app.prisma.$transaction(async (tx) => {
      const [row] = await tx.$queryRaw<Array<{ pid: number }>>`select pg_backend_pid() as pid`
      // Another pooled connection ends this one, as a PostgreSQL restart or failover would.
      await app.prisma.$queryRaw`select pg_terminate_backend(${row!.pid}::int)`
      await new Promise((resolve) => setTimeout(resolve, 200))
      await tx.$queryRaw`select 1`
    })
  } catch (err) {
    failure = err
  }
  t.not(failure, null, 'the transaction failed')
  t.ok(isDatabaseUnavailable(failure), `classified as unavailable: ${String((failure as Error | null)?.message).trim().slice(0, 200)}`)
  // And the pool recovers: the next requests (a sign-up, then `me`) get a new connection.
  const res = await gql(app, MeDocument, {}, { token: (await signUp(app)).accessToken })
  t.same(res.errors, undefined)
  t.equal((await app.prisma.$queryRaw<Array<{ one: number }>>`select 1::int as one`)[0]?.one, 1, 'the pool serves again')
})
