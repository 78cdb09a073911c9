import t from 'tap'
import { appUser, googleEmulator, googleEnv, refresh } from './support/clients.ts'
import type { AppUser } from './support/clients.ts'
import {
  ensurePostgresRunning, errorCodes, gqlHttp, isClearError, requirePostgres, restartPostgres, serverFixture, sleep, startServer, testSchema
} from './support/harness.ts'
import type { HttpResult } from './support/harness.ts'
import { waitFor } from '../support/wait-for.ts'
import { GmailProfileDocument, GmailStatusDocument, MeDocument } from '../support/generated/graphql.ts'

// Issue 5: PostgreSQL restarts (pg_ctl stop -m fast, down 3 s, start) while clients keep calling me, refresh and
// gmailStatus on a real listening server. While it is down: clear errors (coded GraphQL errors, no 5xx, no SQL or
// stack trace), the server process stays up. Afterwards: the same process serves again (its pool reconnects),
// every session still refreshes, nothing was revoked, every Gmail connection is still ACTIVE.

const cluster = requirePostgres(t)
if (cluster != null) {
  t.teardown(() => ensurePostgresRunning(cluster))

  t.test('PostgreSQL restarts under load: clear errors while it is down, recovery without restarting the server', async (t) => {
    const schema = await testSchema(t, cluster, 'pgrestart')
    const fixture = await serverFixture(t)
    const google = await googleEmulator(t)
    const server = await startServer(t, {
      ...fixture,
      databaseUrl: schema.databaseUrl,
      env: {
        ...googleEnv(google),
        DB_POOL_MAX: '5',
        // The retry of a refresh whose commit raced the shutdown must land inside the grace window, restart included.
        REFRESH_REUSE_GRACE_SECONDS: '30'
      }
    })
    const users: AppUser[] = []
    for (let i = 0; i < 8; i++) users.push(await appUser(server.origin, 'pgrestart', google))

    interface Outcome { op: string, at: number, res: HttpResult }
    const outcomes: Outcome[] = []
    let stopping = false
    const ops: Array<[string, (u: AppUser) => Promise<HttpResult>]> = [
      ['me', async (u) => await gqlHttp(server.origin, MeDocument, {}, u.accessToken)],
      ['refresh', async (u) => await refresh(server.origin, u)],
      ['gmailStatus', async (u) => await gqlHttp(server.origin, GmailStatusDocument, {}, u.accessToken)]
    ]
    const loop = async (u: AppUser) => {
      // eslint-disable-next-line no-unmodified-loop-condition -- set by the restart below while this loop awaits
      for (let i = 0; !stopping; i++) {
        const [op, call] = ops[i % ops.length]!
        outcomes.push({ op, at: Date.now(), res: await call(u) })
        await sleep(20)
      }
    }
    const loops = Promise.all(users.map(loop))

    await sleep(1500)
    const downAt = Date.now()
    await restartPostgres(cluster, 3000)
    const upAt = Date.now()
    t.comment(`PostgreSQL stopped and started again in ${upAt - downAt} ms`)
    await sleep(3000)
    stopping = true
    await loops

    const failed = outcomes.filter((o) => o.res.body?.errors != null || o.res.status !== 200)
    const summary = new Map<string, number>()
    for (const o of failed) {
      const key = `${o.op} ${o.res.status} ${errorCodes(o.res).join(',') || o.res.networkError || ''}`
      summary.set(key, (summary.get(key) ?? 0) + 1)
    }
    t.comment(`${outcomes.length} requests, ${failed.length} failed: ${JSON.stringify(Object.fromEntries(summary))}`)
    t.ok(failed.length > 0, 'the outage was felt (requests failed while PostgreSQL was down)')
    t.same(outcomes.filter((o) => o.res.status === 0).map((o) => o.res.networkError), [], 'every request got an HTTP answer: the server never went away')
    t.same(outcomes.filter((o) => o.res.status >= 500).map((o) => `${o.op} ${o.res.status}`), [], 'no 5xx')
    const unclear = failed.filter((o) => !isClearError(o.res))
    t.same(unclear.map((o) => JSON.stringify(o.res).slice(0, 300)), [], 'every failure is a coded GraphQL error without SQL or a stack trace')
    const notRetryable = failed.filter((o) => errorCodes(o.res).some((c) => c !== 'DATABASE_UNAVAILABLE'))
    t.same(notRetryable.map((o) => `${o.op} ${errorCodes(o.res).join(',')}`), [], 'every failure says DATABASE_UNAVAILABLE (retry later), not INTERNAL')
    if (notRetryable.length > 0) {
      // What the server logged for them (errors are logged server-side only, without tokens): which error was not
      // recognised as the database being away.
      t.comment(`server error log:\n${server.unexpectedErrors().slice(0, 10).join('\n').slice(0, 8000)}`)
    }
    t.ok(failed.every((o) => o.at >= downAt - 1000), 'failures only once the outage began')
    const lastFailure = Math.max(...failed.map((o) => o.at))
    t.comment(`the last failing request started ${lastFailure - upAt} ms after PostgreSQL was back`)
    t.ok(lastFailure < upAt + 2000, 'under the same load, requests succeed again within 2 s of PostgreSQL being back')
    t.equal((await Promise.race([server.exited.then(() => 'exited'), sleep(10).then(() => 'running')])), 'running', 'the same server process is still running')

    // Recovery, same process: the pool drops its dead connections and opens new ones.
    await waitFor(async () => (await gqlHttp(server.origin, MeDocument, {}, users[0]!.accessToken)).body?.data?.me != null, 'me to work again', 30_000)
    for (const u of users) {
      const me = await gqlHttp(server.origin, MeDocument, {}, u.accessToken)
      t.equal(me.body?.data?.me?.email, u.email, `${u.email}: me works again`)
      const r = await refresh(server.origin, u)
      t.equal(r.body?.errors, undefined, `${u.email}: the session still refreshes (the token the app kept is valid)`)
      const status = await gqlHttp(server.origin, GmailStatusDocument, {}, u.accessToken)
      t.equal(status.body?.data?.gmailStatus?.state, 'ACTIVE', `${u.email}: Gmail still ACTIVE`)
    }
    const profile = await gqlHttp(server.origin, GmailProfileDocument, {}, users[0]!.accessToken)
    t.equal(profile.body?.data?.gmailProfile?.emailAddress, users[0]!.googleEmail, 'gmailProfile works (database, vault and Google together)')

    const sessions = (await schema.query('SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NOT NULL')).rows[0].n
    t.equal(sessions, 0, 'no session was revoked')
    const reuse = (await schema.query("SELECT count(*)::int AS n FROM security_events WHERE type = 'REFRESH_TOKEN_REUSE_DETECTED'")).rows[0].n
    t.equal(reuse, 0, 'no refresh was mistaken for token reuse')
    const inactive = (await schema.query("SELECT count(*)::int AS n FROM gmail_connections WHERE state <> 'ACTIVE'")).rows[0].n
    t.equal(inactive, 0, 'no Gmail connection changed state')
    t.ok(await schema.serverConnections() <= 5, `the server holds at most DB_POOL_MAX connections (${await schema.serverConnections()})`)
    await server.stop()
  })
}
