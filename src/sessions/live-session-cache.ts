import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import type { LiveRow } from './live-session.ts'

// The live-session check (live-session.ts) reads the session and its user on every authenticated request. This
// process keeps what it read, and PostgreSQL tells it what changed:
// - a trigger on `sessions` and `users` (migration 20261202150000_live_session_notifications) sends the changed row's
//   id on LIVE_SESSIONS_CHANNEL at commit, to every server process; the entry goes at once (a logout, a revoked
//   session, a disabled user, RISC's sessions-revoked: every path that writes those tables, the admin CLI included);
// - this process's own committed writes to those tables (src/db/committed-writes.ts) stop it at once, before their
//   notifications can have arrived: nothing is served or kept until a fence this process sends after the write comes
//   back on the channel. PostgreSQL delivers notifications in commit order, so by then the write's own have been
//   heard and its entries dropped: a request that follows a write here never sees the row from before it;
// - while the listening connection is not in place (starting, lost, heartbeat late) nothing is served from it and
//   nothing is kept: every request reads, as without a cache. It starts empty each time listening resumes;
// - a read that raced a change is not kept: an entry is stored only if no change was heard since its read began
//   (one generation counter for the whole cache);
// - entries live at most MAX_AGE_MS and at most MAX_ENTRIES are kept (the oldest go first).
// The expiry rules (absolute and idle) are applied to the cached row on every request, with the app's clock.

export const LIVE_SESSIONS_CHANNEL = 'inboxgate_live_sessions'
const MAX_ENTRIES = 10_000
const MAX_AGE_MS = 60_000

interface Entry<R> {
  row: R
  userId: string
  storedAt: number
}

export class LiveSessionCache<R extends { userId: string } = { userId: string }> {
  readonly #entries = new Map<string, Entry<R>>()
  readonly #byUser = new Map<string, Set<string>>()
  readonly #maxEntries: number
  readonly #maxAgeMs: number
  readonly #fences = new Set<string>()
  #generation = 0
  #live = false

  constructor (opts: { maxEntries?: number, maxAgeMs?: number } = {}) {
    this.#maxEntries = opts.maxEntries ?? MAX_ENTRIES
    this.#maxAgeMs = opts.maxAgeMs ?? MAX_AGE_MS
  }

  /** Whether entries are served: only while every change is heard and no write of this process is unheard. */
  get live (): boolean { return this.#live && this.#fences.size === 0 }

  /** Take it before reading the database; hand it back to `remember`. */
  get generation (): number { return this.#generation }

  get size (): number { return this.#entries.size }

  get (sessionId: string): R | undefined {
    if (!this.live) return undefined
    const entry = this.#entries.get(sessionId)
    if (entry == null) return undefined
    if (performance.now() - entry.storedAt > this.#maxAgeMs) {
      this.#drop(sessionId)
      return undefined
    }
    return entry.row
  }

  /** Keeps a row read since `generation` was taken, unless a change was heard meanwhile or the cache is not live. */
  remember (sessionId: string, row: R, generation: number): void {
    if (!this.live || generation !== this.#generation) return
    this.#drop(sessionId)
    // Oldest first (a Map keeps insertion order and an entry is re-inserted when stored again): what is past its age
    // goes now rather than waiting for a request that may never come, so the cache holds the sessions in use lately,
    // not every session seen until MAX_ENTRIES (the mixed soak's heap grew by ≈ 5 MiB filling it that way).
    const now = performance.now()
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size < this.#maxEntries && now - entry.storedAt <= this.#maxAgeMs) break
      this.#drop(id)
    }
    this.#entries.set(sessionId, { row, userId: row.userId, storedAt: now })
    let sessions = this.#byUser.get(row.userId)
    if (sessions == null) this.#byUser.set(row.userId, sessions = new Set())
    sessions.add(sessionId)
  }

  /**
   * This process committed a write to sessions or users: nothing is served or kept until `payload` comes back on the
   * channel (`changed`), after the write's own notifications.
   */
  hold (fence: string): void {
    this.#generation++
    this.#fences.add(fence)
  }

  /** A fence that cannot come back (it was not sent): release it, and forget everything instead. */
  release (fence: string): void {
    this.#fences.delete(fence)
    this.clear()
  }

  /** A notification's payload: `s:<session id>`, `u:<user id>`, `f:<fence>`; anything else empties the cache. */
  changed (payload: string): void {
    if (payload.startsWith('f:')) {
      // Another process's fence says nothing about this one.
      this.#fences.delete(payload)
      return
    }
    this.#generation++
    const id = payload.slice(2)
    if (payload.startsWith('s:')) {
      this.#drop(id)
    } else if (payload.startsWith('u:')) {
      for (const sessionId of [...this.#byUser.get(id) ?? []]) this.#drop(sessionId)
    } else {
      this.clear()
    }
  }

  clear (): void {
    this.#generation++
    this.#entries.clear()
    this.#byUser.clear()
  }

  setLive (live: boolean): void {
    this.clear()
    this.#fences.clear()
    this.#live = live
  }

  #drop (sessionId: string): void {
    const entry = this.#entries.get(sessionId)
    if (entry == null) return
    this.#entries.delete(sessionId)
    const sessions = this.#byUser.get(entry.userId)
    sessions?.delete(sessionId)
    if (sessions?.size === 0) this.#byUser.delete(entry.userId)
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Undefined when LIVE_SESSION_CACHE is off: every request reads. */
    liveSessionCache: LiveSessionCache<LiveRow> | undefined
  }
}

export default fp(async (app) => {
  if (!app.config.LIVE_SESSION_CACHE) {
    app.decorate('liveSessionCache', undefined)
    return
  }
  const cache = new LiveSessionCache<LiveRow>()
  const instance = randomUUID()
  let fences = 0
  const subscription = app.database.listen(LIVE_SESSIONS_CHANNEL, {
    message: (payload) => { cache.changed(payload) },
    live: (live) => { cache.setLive(live) }
  }, app.log)
  // The fence goes out on the listening connection itself (node-postgres, no Prisma on the writer's path).
  const unwatch = app.database.committedWrites.watch(['sessions', 'users'], () => {
    const fence = `f:${instance}:${++fences}`
    cache.hold(fence)
    subscription.notify(fence).catch(() => { cache.release(fence) })
  })
  app.decorate('liveSessionCache', cache)
  app.addHook('onClose', async () => {
    unwatch()
    await subscription.close()
  })
}, { name: 'live-session-cache', dependencies: ['config', 'prisma'] })
