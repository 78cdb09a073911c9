import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { test } from 'tap'
import { LiveSessionCache, LIVE_SESSIONS_CHANNEL } from '../../src/sessions/live-session-cache.ts'
import { buildTestApp, gql, PASSWORD, signUp } from '../helper.ts'
import { freePort } from '../support/free-port.ts'
import { waitFor } from '../support/wait-for.ts'
import { LoginDocument, LogoutDocument, MeDocument } from '../support/generated/graphql.ts'

// The per-process live-session cache (src/sessions/live-session-cache.ts): what it keeps, what drops an entry, and,
// on PostgreSQL, a second server process that must stop honouring a session within 100 ms of its end anywhere.

const pgUrl = process.env.TEST_DATABASE_URL
const onPostgres = pgUrl != null && pgUrl !== ''
const NEEDS_PG = 'needs TEST_DATABASE_URL: two server processes cannot share a PGlite database'

interface Row { userId: string, n: number }

test('the cache: entries, generations, users, liveness, bounds', async (t) => {
  const cache = new LiveSessionCache<Row>({ maxEntries: 2 })
  t.equal(cache.get('s1'), undefined)
  cache.remember('s1', { userId: 'u1', n: 1 }, cache.generation)
  t.equal(cache.size, 0, 'nothing is kept before the notifications are live')
  cache.setLive(true)
  cache.remember('s1', { userId: 'u1', n: 1 }, cache.generation)
  t.same(cache.get('s1'), { userId: 'u1', n: 1 })

  // A read that began before a change was heard is not kept (it may hold the row from before the change).
  const before = cache.generation
  cache.changed('s:unrelated')
  cache.remember('s2', { userId: 'u1', n: 2 }, before)
  t.equal(cache.get('s2'), undefined, 'a read that raced a change is dropped')

  cache.remember('s2', { userId: 'u1', n: 2 }, cache.generation)
  cache.changed('s:s1')
  t.equal(cache.get('s1'), undefined, 'a session change drops that session')
  t.ok(cache.get('s2'))
  cache.remember('s1', { userId: 'u1', n: 1 }, cache.generation)
  cache.changed('u:u1')
  t.equal(cache.get('s1'), undefined, 'a user change drops every session of the user')
  t.equal(cache.get('s2'), undefined)

  cache.remember('a', { userId: 'u2', n: 1 }, cache.generation)
  cache.remember('b', { userId: 'u2', n: 2 }, cache.generation)
  cache.remember('c', { userId: 'u3', n: 3 }, cache.generation)
  t.equal(cache.size, 2, 'bounded')
  t.equal(cache.get('a'), undefined, 'the oldest went first')
  cache.changed('something else')
  t.equal(cache.size, 0, 'an unknown payload empties it')

  cache.remember('a', { userId: 'u2', n: 1 }, cache.generation)
  cache.setLive(false)
  t.equal(cache.get('a'), undefined, 'nothing is served once notifications may be missed')
  cache.setLive(true)
  t.equal(cache.get('a'), undefined, 'and it starts empty when they are back')

  // A write of this process holds it until its fence comes back; a fence that could not be sent forgets everything.
  cache.remember('a', { userId: 'u2', n: 1 }, cache.generation)
  cache.hold('f:me:1')
  t.equal(cache.get('a'), undefined, 'held: not served')
  cache.changed('f:other:1')
  t.equal(cache.get('a'), undefined, 'another process\'s fence does not release it')
  cache.changed('f:me:1')
  t.same(cache.get('a'), { userId: 'u2', n: 1 }, 'released by its own fence')
  cache.hold('f:me:2')
  cache.release('f:me:2')
  t.equal(cache.size, 0)
  t.ok(cache.live)

  const aged = new LiveSessionCache<Row>({ maxAgeMs: -1 })
  aged.setLive(true)
  aged.remember('a', { userId: 'u', n: 1 }, aged.generation)
  aged.remember('b', { userId: 'u', n: 2 }, aged.generation)
  t.equal(aged.size, 1, 'what is past its age goes when something is stored, not only when it is asked for')
  t.equal(aged.get('b'), undefined, 'an entry older than its limit is read again')
  t.equal(aged.size, 0)
})

test('an app serves the live session from its cache and drops it on its own writes and on notifications', async (t) => {
  const { app } = await buildTestApp(t)
  const cache = app.liveSessionCache!
  t.ok(cache, 'on by default')
  await t.resolves(waitFor(() => cache.live, 'listening', 10_000), 'listening')
  const user = await signUp(app)
  await waitFor(() => cache.live, 'the sign-up\'s fence', 10_000) // the sign-up's own write holds it until its fence is back
  t.equal((await gql(app, MeDocument, {}, { token: user.accessToken })).data?.me.email, user.email)
  t.equal(cache.size, 1, 'the session is kept')

  // Every committed change to sessions or users is announced on the channel with the row's id.
  const heard: string[] = []
  const subscription = app.database.listen(LIVE_SESSIONS_CHANNEL, { message: (p) => heard.push(p), live: () => {} }, app.log)
  t.teardown(subscription.close)
  await waitFor(async () => {
    await app.prisma.$executeRaw`SELECT pg_notify(${LIVE_SESSIONS_CHANNEL}, 'f:probe')`
    return heard.includes('f:probe')
  }, 'the probe on the channel', 10_000)

  // A write here, then a request at once: never the row from before it, even before the write's notification is in.
  await app.prisma.user.update({ where: { id: user.user.id }, data: { name: 'Renamed' } })
  t.equal((await gql(app, MeDocument, {}, { token: user.accessToken })).data?.me.name, 'Renamed', 'read again, not served stale')
  await waitFor(() => heard.includes(`u:${user.user.id}`), 'the user\'s change announced', 10_000)
  await t.resolves(waitFor(() => cache.live, 'the fence back', 10_000), 'served again once this process\'s fence is back')
  t.ok(heard.some((p) => p.startsWith('f:') && p !== 'f:probe'), 'the fence went through the channel')

  await gql(app, MeDocument, {}, { token: user.accessToken })
  await gql(app, LogoutDocument, {}, { token: user.accessToken })
  const after = await gql(app, MeDocument, {}, { token: user.accessToken })
  t.equal(after.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'a logout here, then the same token at once: refused')
  await waitFor(() => heard.includes(`s:${user.sessionId}`), 'the logout announced', 10_000)
  t.pass('the logout was announced for the other processes')
})

test('LIVE_SESSION_CACHE=false: no cache, every request reads', async (t) => {
  const { app } = await buildTestApp(t, { env: { LIVE_SESSION_CACHE: 'false' } })
  t.equal(app.liveSessionCache, undefined)
  const user = await signUp(app)
  t.equal((await gql(app, MeDocument, {}, { token: user.accessToken })).data?.me.email, user.email)
})

test('two processes: a session ended anywhere is refused by the other process within 100 ms', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  const { app, pgSchema } = await buildTestApp(t)
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `${pgUrl}${pgUrl!.includes('?') ? '&' : '?'}schema=${pgSchema}`,
      // The same secret as the test app (test/helper.ts): the signing keys in the database are sealed under it.
      JWT_SECRET: createHash('sha256').update(`inboxgate-test-jwt:${pgSchema}:${pgUrl}`).digest('base64url'),
      JWT_ISSUER: app.config.JWT_ISSUER,
      LOG_LEVEL: 'info',
      PUBLIC_ORIGINS: origin
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000) })
  const messages: string[] = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    try { messages.push(String((JSON.parse(line) as { msg?: unknown }).msg)) } catch {}
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    await exited
  })
  await waitFor(async () => {
    if (child.exitCode != null) throw new Error(`the second server exited: ${stderr}`)
    return await fetch(`${origin}/health`).then((r) => r.ok, () => false)
  }, 'the second server', 90_000)

  const db = new pg.Client({ connectionString: pgUrl, options: `-c search_path="${pgSchema}"` })
  await db.connect()
  t.teardown(async () => { await db.end() })

  const me = async (token: string) => {
    const res = await fetch(`${origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: String(MeDocument) })
    })
    return await res.json() as { data?: { me: { email: string } } | null, errors?: Array<{ extensions: { code: string } }> }
  }
  const user = await signUp(app)
  const login = async () => {
    const res = await gql(app, LoginDocument, { input: { email: user.email, password: PASSWORD, client: 'NATIVE' } })
    return res.data!.login
  }
  // The other process honours the token (and keeps its session).
  const cachedIn = async (token: string) => {
    t.equal((await me(token)).data?.me.email, user.email)
    t.equal((await me(token)).data?.me.email, user.email)
  }
  /** Ms from the end (its response here, or the statement's commit) until the other process refuses the token. */
  const refusedWithin = async (token: string, end: () => Promise<unknown>, code = 'UNAUTHENTICATED') => {
    await end()
    const started = performance.now()
    for (;;) {
      const res = await me(token)
      if (res.errors != null) {
        t.equal(res.errors[0]?.extensions.code, code)
        return performance.now() - started
      }
      if (performance.now() - started > 10_000) throw new Error('never refused')
    }
  }

  // It does serve from its cache: a change made with the trigger off (so unannounced) is not seen there.
  await waitFor(async () => {
    await cachedIn(user.accessToken)
    await db.query('ALTER TABLE users DISABLE TRIGGER users_live_session_notify')
    try {
      await db.query('UPDATE users SET email = \'unannounced-\' || email WHERE id = $1', [user.user.id])
      return (await me(user.accessToken)).data?.me.email === user.email
    } finally {
      await db.query('UPDATE users SET email = substr(email, 13) WHERE id = $1 AND email LIKE \'unannounced-%\'', [user.user.id])
      await db.query('ALTER TABLE users ENABLE TRIGGER users_live_session_notify')
    }
  }, 'the other process serving from its cache', 10_000)
  const logout = await refusedWithin(user.accessToken, async () => await gql(app, LogoutDocument, {}, { token: user.accessToken }))
  t.ok(logout <= 100, `a logout in the other process: refused after ${logout.toFixed(1)} ms`)

  const second = await login()
  await cachedIn(second.accessToken)
  const revoked = await refusedWithin(second.accessToken, async () => await db.query('UPDATE sessions SET revoked_at = now(), revoked_reason = \'GOOGLE_SESSIONS_REVOKED\' WHERE id = $1', [second.sessionId]))
  t.ok(revoked <= 100, `a session revoked by another connection, as RISC sessions-revoked writes it: refused after ${revoked.toFixed(1)} ms`)

  const third = await login()
  await cachedIn(third.accessToken)
  const disabled = await refusedWithin(third.accessToken, async () => await db.query('UPDATE users SET disabled_at = now() WHERE id = $1', [user.user.id]), 'FORBIDDEN')
  t.ok(disabled <= 100, `a disabled user: refused after ${disabled.toFixed(1)} ms`)
  await db.query('UPDATE users SET disabled_at = NULL WHERE id = $1', [user.user.id])

  // The listening connection is lost: the other process reads every request until it listens again, so a revocation
  // it could not hear is still refused.
  const fourth = await login()
  await cachedIn(fourth.accessToken)
  const { rowCount } = await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`inboxgate-listen ${String(child.pid)}`])
  t.equal(rowCount, 1, 'the other process\'s listening connection, ended by the server')
  await waitFor(() => messages.includes('live-session notifications lost: reading every request from the database until they are back'), 'the loss logged', 10_000)
  await db.query('UPDATE sessions SET revoked_at = now(), revoked_reason = \'GOOGLE_SESSIONS_REVOKED\' WHERE id = $1', [fourth.sessionId])
  t.equal((await me(fourth.accessToken)).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'not served from the cache it can no longer trust')

  await waitFor(() => messages.includes('live-session notifications are back'), 'the return logged', 10_000)
  const fifth = await login()
  await cachedIn(fifth.accessToken)
  const again = await refusedWithin(fifth.accessToken, async () => await gql(app, LogoutDocument, { everywhere: true }, { token: fifth.accessToken }))
  t.ok(again <= 100, `listening again: logout everywhere refused after ${again.toFixed(1)} ms`)
})
