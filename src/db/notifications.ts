import { randomUUID } from 'node:crypto'
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'

// PostgreSQL's LISTEN/NOTIFY, on PostgreSQL and on the embedded PGlite alike. A subscriber learns each payload and,
// as importantly, whether it can trust that it has seen every one: `live(false)` whenever notifications may have been
// missed (the connection is not yet listening, was lost, or stopped answering), `live(true)` once LISTEN is in place
// again. What a subscriber caches must not outlive a `live(false)`.

export interface NotificationHandlers {
  message: (payload: string) => void
  live: (live: boolean) => void
}

export interface Subscription {
  /**
   * NOTIFY `payload` on the channel through this subscription's own connection. Sent after a write has committed, it
   * comes back after that write's own notifications (PostgreSQL delivers them in commit order). Rejects when the
   * connection is not listening.
   */
  notify: (payload: string) => Promise<void>
  close: () => Promise<void>
}

export interface ListenLog {
  warn: (obj: object, msg: string) => void
  info: (msg: string) => void
}

const CHANNEL = /^[a-z_][a-z0-9_]*$/

/** How often the listening connection proves it is alive, and how long a proof may take before it counts as lost. */
const HEARTBEAT_MS = 2000
/** Payloads of the listeners' own proofs: never handed to a subscriber (any process's, since all share the channel). */
const PROOF_PREFIX = 'h:'
const RECONNECT_MIN_MS = 100
const RECONNECT_MAX_MS = 5000

/**
 * PostgreSQL: a connection of its own, outside the pool (a pooled connection would LISTEN only while checked out).
 * Lost (an error, the server ending it, a heartbeat that does not come back within HEARTBEAT_MS) means `live(false)`
 * at once and a reconnection with backoff; TCP keepalive is on as well.
 *
 * A connection that answers queries is not yet one that hears notifications: behind a transaction-mode pooler
 * (PgBouncer's default) LISTEN stays on a server connection this client no longer talks to, and a `SELECT 1` still
 * succeeds. So the connection proves it hears: it NOTIFYs a nonce of its own and must receive it back, once before
 * `live(true)` and then as its heartbeat. A deaf connection never goes live, or stops being live within two beats.
 */
export function listenPostgres (clientConfig: pg.ClientConfig, channel: string, handlers: NotificationHandlers, log: ListenLog): Subscription {
  if (!CHANNEL.test(channel)) throw new Error(`invalid channel name ${channel}`)
  let client: pg.Client | undefined
  let closed = false
  let backoff = RECONNECT_MIN_MS
  let reconnect: NodeJS.Timeout | undefined
  let wasLost = false
  let listening: pg.Client | undefined
  /** Proofs in flight: nonce -> what to call when it comes back. */
  const proofs = new Map<string, () => void>()

  /** NOTIFY a nonce on `c` and wait for it to come back on `c` within HEARTBEAT_MS. */
  const prove = async (c: pg.Client): Promise<void> => {
    const nonce = `${PROOF_PREFIX}${randomUUID()}`
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        proofs.set(nonce, resolve)
        timer = setTimeout(() => {
          reject(new Error(`the listening connection did not hear its own NOTIFY within ${HEARTBEAT_MS} ms (a transaction-mode pooler between the server and PostgreSQL?)`))
        }, HEARTBEAT_MS)
        c.query('SELECT pg_notify($1, $2)', [channel, nonce]).catch(reject)
      })
    } finally {
      clearTimeout(timer)
      proofs.delete(nonce)
    }
  }

  const lost = (c: pg.Client, err?: unknown): void => {
    if (client !== c) return
    client = undefined
    listening = undefined
    handlers.live(false)
    c.removeAllListeners('notification')
    c.on('error', () => {})
    c.end().catch(() => {})
    if (closed) return
    if (!wasLost) log.warn({ err: err instanceof Error ? { message: err.message } : undefined }, 'live-session notifications lost: reading every request from the database until they are back')
    wasLost = true
    reconnect = setTimeout(() => { void connect() }, backoff)
    reconnect.unref()
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS)
  }

  const connect = async (): Promise<void> => {
    if (closed) return
    const c = new pg.Client(listenerConfig(clientConfig))
    client = c
    c.on('notification', (n) => {
      if (n.channel !== channel) return
      const payload = n.payload ?? ''
      if (payload.startsWith(PROOF_PREFIX)) {
        proofs.get(payload)?.()
        return
      }
      handlers.message(payload)
    })
    c.on('error', (err) => { lost(c, err) })
    c.on('end', () => { lost(c) })
    try {
      await c.connect()
      await c.query(`LISTEN ${channel}`)
      await prove(c)
    } catch (err) {
      lost(c, err)
      return
    }
    if (client !== c) return
    listening = c
    backoff = RECONNECT_MIN_MS
    if (wasLost) log.info('live-session notifications are back')
    wasLost = false
    handlers.live(true)
  }

  const heartbeat = setInterval(() => {
    // Also while connecting: a connect or LISTEN that hangs fails its proof (the query waits behind them) and retries.
    const c = client
    if (c == null || closed) return
    prove(c).catch((err: unknown) => { lost(c, err) })
  }, HEARTBEAT_MS)
  heartbeat.unref()

  void connect()
  return {
    notify: async (payload) => {
      const c = client
      if (c == null || listening !== c) throw new Error('not listening')
      await c.query('SELECT pg_notify($1, $2)', [channel, payload])
    },
    close: async () => {
      closed = true
      clearInterval(heartbeat)
      clearTimeout(reconnect)
      const c = client
      client = undefined
      listening = undefined
      handlers.live(false)
      if (c != null) await c.end().catch(() => {})
    }
  }
}

/**
 * The pool's settings, named `<application_name>-listen <pid>` (`inboxgate-listen <pid>` by default): a DATABASE_URL's
 * `application_name` would otherwise win over ours (node-postgres lets the URL override) and the listening connection
 * would count as one of the pool's.
 */
function listenerConfig (config: pg.ClientConfig): pg.ClientConfig {
  let base = 'inboxgate'
  let connectionString = config.connectionString
  if (connectionString != null) {
    const url = new URL(connectionString)
    base = url.searchParams.get('application_name') ?? base
    url.searchParams.delete('application_name')
    connectionString = url.toString()
  }
  return { ...config, connectionString, keepAlive: true, application_name: `${base}-listen ${process.pid}` }
}

/**
 * PGlite: one process, one backend. Notifications are delivered while the writing statement's result is read, so a
 * subscriber hears of a change before the write's promise resolves; there is no connection to lose.
 */
export function listenPglite (db: PGlite, channel: string, handlers: NotificationHandlers): Subscription {
  if (!CHANNEL.test(channel)) throw new Error(`invalid channel name ${channel}`)
  let closed = false
  const listening = db.listen(channel, (payload) => { if (!closed) handlers.message(payload) })
    .then((unlisten) => {
      if (!closed) handlers.live(true)
      return unlisten
    })
  // A failed LISTEN leaves the subscriber at live(false): every request reads.
  listening.catch(() => {})
  return {
    notify: async (payload) => {
      if (closed || db.closed) throw new Error('not listening')
      await db.query('SELECT pg_notify($1, $2)', [channel, payload])
    },
    close: async () => {
      closed = true
      handlers.live(false)
      const unlisten = await listening.catch(() => undefined)
      if (unlisten != null && !db.closed) await unlisten().catch(() => {})
    }
  }
}
