import { randomBytes } from 'node:crypto'
import net from 'node:net'
import pg from 'pg'
import type { Test } from 'tap'
import { test } from 'tap'
import { listenPostgres } from '../../src/db/notifications.ts'
import { waitFor } from '../support/wait-for.ts'

// The listening connection must hear, not only answer (src/db/notifications.ts). The attack: something between the
// server and PostgreSQL that passes queries but not notifications (a transaction-mode pooler such as PgBouncer's
// default, which moves the client off the backend that ran LISTEN). A `SELECT 1` heartbeat still succeeds there, so
// the live-session cache would trust a listener that hears no logout. Here a proxy of our own forwards the protocol
// and, when told to be deaf, drops PostgreSQL's NotificationResponse messages ('A'), as such a pooler loses them.

const pgUrl = process.env.TEST_DATABASE_URL
const onPostgres = pgUrl != null && pgUrl !== ''
const NEEDS_PG = 'needs TEST_DATABASE_URL: the listener under test is the PostgreSQL one (PGlite has no connection to lose)'

interface DeafProxy { port: number, deaf: boolean, close: () => Promise<void> }

/** A TCP proxy to PostgreSQL that parses the server's messages (type byte, int32 length) and drops 'A' while deaf. */
async function deafProxy (upstream: { host: string, port: number }): Promise<DeafProxy> {
  const sockets = new Set<net.Socket>()
  const proxy: DeafProxy = { port: 0, deaf: false, close: async () => {} }
  const server = net.createServer((client) => {
    const server = net.connect(upstream.port, upstream.host)
    sockets.add(client).add(server)
    let pending = Buffer.alloc(0)
    client.on('data', (chunk) => server.write(chunk))
    server.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 5) {
        const size = 1 + pending.readInt32BE(1)
        if (pending.length < size) break
        const message = pending.subarray(0, size)
        pending = pending.subarray(size)
        if (!(proxy.deaf && message[0] === 0x41)) client.write(message)
      }
    })
    const end = (): void => { client.destroy(); server.destroy() }
    client.on('close', end).on('error', end)
    server.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.port = (server.address() as net.AddressInfo).port
  proxy.close = async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  }
  return proxy
}

interface Probe {
  messages: string[]
  lives: boolean[]
  warnings: string[]
  infos: string[]
}

function setUp (t: Test, proxy: DeafProxy) {
  const url = new URL(pgUrl!)
  url.searchParams.delete('schema')
  const direct = url.toString()
  url.hostname = '127.0.0.1'
  url.port = String(proxy.port)
  const channel = `test_notify_${randomBytes(6).toString('hex')}`
  const p: Probe = { messages: [], lives: [], warnings: [], infos: [] }
  const subscription = listenPostgres({ connectionString: url.toString() }, channel, {
    message: (payload) => { p.messages.push(payload) },
    live: (live) => { p.lives.push(live) }
  }, {
    warn: (obj, msg) => { p.warnings.push(`${msg} ${JSON.stringify(obj)}`) },
    info: (msg) => { p.infos.push(msg) }
  })
  const other = new pg.Client({ connectionString: direct })
  t.teardown(async () => {
    await subscription.close()
    await other.end().catch(() => {})
  })
  const notify = async (payload: string): Promise<void> => { await other.query('SELECT pg_notify($1, $2)', [channel, payload]) }
  return { p, other, notify, viaProxy: url.toString() }
}

function upstreamOf (url: string) {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port === '' ? 5432 : u.port) }
}

test('a listener that stops hearing notifications stops being live, though it still answers queries', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  const proxy = await deafProxy(upstreamOf(pgUrl!))
  t.teardown(proxy.close)
  const { p, other, notify, viaProxy } = setUp(t, proxy)
  await other.connect()

  await waitFor(() => p.lives.at(-1) === true, 'live at first', 10_000)
  await notify('s:one')
  await waitFor(() => p.messages.includes('s:one'), 'a notification heard', 5000)
  // Another process's proof shares the channel: never handed to the subscriber (the cache would empty on it).
  await notify('h:another-process')
  await notify('s:two')
  await waitFor(() => p.messages.includes('s:two'), 'the next notification heard', 5000)
  t.same(p.messages, ['s:one', 's:two'], 'only the subscriber\'s payloads, never a proof')

  proxy.deaf = true
  await notify('s:unheard')
  // The heartbeat (every 2 s, 2 s to come back) finds the connection deaf: live(false), and a warning that says why.
  await waitFor(() => p.lives.at(-1) === false, 'not live once deaf', 10_000)
  t.notOk(p.messages.includes('s:unheard'), 'the notification sent while deaf was not heard')
  t.match(p.warnings.join('\n'), /did not hear its own NOTIFY.*pooler/, 'the warning names the cause')
  // The queries still pass: what a SELECT 1 heartbeat took for a live connection.
  const c = new pg.Client({ connectionString: viaProxy })
  await c.connect()
  t.same((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the deaf path still answers queries')
  await c.end()

  // Reconnections stay not live while deaf, and go live once notifications pass again.
  const livesWhileDeaf = p.lives.length
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.notOk(p.lives.slice(livesWhileDeaf).includes(true), 'never live again while deaf')
  proxy.deaf = false
  await waitFor(() => p.lives.at(-1) === true, 'live again once notifications pass', 15_000)
  t.ok(p.infos.includes('live-session notifications are back'), 'logged when back')
  await notify('s:three')
  await waitFor(() => p.messages.includes('s:three'), 'heard again', 5000)
})

test('a listener deaf from the start never goes live', { skip: onPostgres ? false : NEEDS_PG }, async (t) => {
  const proxy = await deafProxy(upstreamOf(pgUrl!))
  t.teardown(proxy.close)
  proxy.deaf = true
  const { p } = setUp(t, proxy)
  // Its first proof fails (LISTEN and the query succeed, the NOTIFY never comes back), then it retries.
  await waitFor(() => p.warnings.length > 0, 'the first proof failed', 10_000)
  t.match(p.warnings[0], /did not hear its own NOTIFY/)
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.notOk(p.lives.includes(true), 'never live: the cache behind it reads every request')
})
