import type { FastifyBaseLogger } from 'fastify'
import { Errors } from '../errors.ts'
import type { Clock } from '../clock.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { GoogleGateway } from '../google/google-gateway.ts'
import type { GmailConnections } from '../gmail/gmail-connections.ts'
import { recordEvents, type OutboxEvent } from '../webhooks/outbox.ts'

/** Google recommends renewing a watch about once a day; it lasts 7 days. */
const RENEW_EVERY_MS = 86_400_000
/** Syncs of one push that lose the historyId compare-and-set to another before giving up (Pub/Sub then redelivers). */
const SYNC_ATTEMPTS = 5
/** What a renewal that died half-way holds its claim for before another process may try again. */
const RENEW_CLAIM_MS = 10 * 60_000

/**
 * Gmail push in (docs/events.md): watches every connected mailbox into GMAIL_PUSH_TOPIC, renews them daily, and
 * turns a push ("something changed up to historyId N") into one `gmail.message.added` event per new INBOX message,
 * read from Gmail's history since the stored historyId. The stored historyId moves forward only in the transaction
 * that records the events (compare-and-set on the old value), so a crash or a concurrent sync can neither lose
 * nor duplicate a message.
 */
export class MailboxEvents {
  readonly #prisma: PrismaClient
  readonly #google: GoogleGateway
  readonly #gmail: GmailConnections
  readonly #topic: string
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger

  constructor (deps: { prisma: PrismaClient, google: GoogleGateway, gmail: GmailConnections, topic: string, clock: Clock, log: FastifyBaseLogger }) {
    this.#prisma = deps.prisma
    this.#google = deps.google
    this.#gmail = deps.gmail
    this.#topic = deps.topic
    this.#clock = deps.clock
    this.#log = deps.log
  }

  /**
   * users.watch for the user's mailbox. `fresh` (a new connection): history starts at the watch's historyId;
   * a renewal keeps the stored one (messages not yet turned into events stay to be read). Best effort: a failure is
   * logged and the renewal job tries again.
   */
  async watch (userId: string, fresh: boolean): Promise<boolean> {
    try {
      const row = await this.#prisma.gmailConnection.findUnique({ where: { userId }, select: { state: true, googleSub: true } })
      if (row?.state !== 'ACTIVE') return false
      const token = await this.#gmail.getGmailAccessToken(userId)
      const watch = await this.#google.gmailWatch(token, this.#topic)
      const now = this.#clock.now().getTime()
      const set = { watchExpiresAt: new Date(watch.expiration), watchRenewAt: new Date(now + RENEW_EVERY_MS) }
      // Only while the same Google account is connected: a switch meanwhile starts its own watch.
      if (fresh) {
        await this.#prisma.gmailConnection.updateMany({ where: { userId, googleSub: row.googleSub }, data: { ...set, historyId: watch.historyId } })
      } else {
        await this.#prisma.gmailConnection.updateMany({ where: { userId, googleSub: row.googleSub }, data: set })
        await this.#prisma.gmailConnection.updateMany({ where: { userId, googleSub: row.googleSub, historyId: null }, data: { historyId: watch.historyId } })
      }
      return true
    } catch (err) {
      this.#log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, userId }, 'gmail watch failed; the renewal job will retry')
      return false
    }
  }

  /** users.stop before a grant is given up (best effort: revoking the grant ends the watch at Google anyway). */
  async stop (userId: string, accessToken: string): Promise<void> {
    try {
      await this.#google.gmailStop(accessToken)
    } catch (err) {
      this.#log.info({ err: { name: (err as Error).name, message: (err as Error).message }, userId }, 'gmail stop failed (the revocation ends the watch)')
    }
  }

  /**
   * Renews every watch due (or never made): each claimed by a compare-and-set on `watchRenewAt`, so two processes
   * never renew one mailbox twice. Returns how many were renewed.
   */
  async renewDue (limit = 100): Promise<number> {
    const now = this.#clock.now()
    const due = await this.#prisma.gmailConnection.findMany({
      where: { state: 'ACTIVE', OR: [{ watchRenewAt: null }, { watchRenewAt: { lte: now } }] },
      select: { userId: true, watchRenewAt: true },
      take: limit
    })
    let renewed = 0
    for (const row of due) {
      const claimed = await this.#prisma.gmailConnection.updateMany({
        where: { userId: row.userId, watchRenewAt: row.watchRenewAt },
        data: { watchRenewAt: new Date(now.getTime() + RENEW_CLAIM_MS) }
      })
      if (claimed.count === 1 && await this.watch(row.userId, false)) renewed++
    }
    return renewed
  }

  /**
   * Reads what arrived since the stored historyId and records it. Google's 404 (history too old): one
   * `gmail.sync_required` event and a fresh start from the profile's historyId. Throws GOOGLE_UNAVAILABLE (the
   * push is then retried by Pub/Sub); a dead grant ends as the custody layer decides (RECONNECT_REQUIRED).
   */
  async sync (userId: string): Promise<{ added: number, syncRequired: boolean }> {
    // A failed compare-and-set means another sync moved the historyId meanwhile, but not necessarily past what this
    // one read: Pub/Sub pushes concurrently, and a sync whose history call started earlier can commit first with
    // less. Reading again from the new historyId records what only this one saw (else it waited for the next push).
    for (let attempt = 1; ; attempt++) {
      const result = await this.#syncOnce(userId)
      if (result != null) return result
      // Busy with other syncs every time: answered 503, so Pub/Sub delivers the push again later.
      if (attempt === SYNC_ATTEMPTS) throw Errors.googleUnavailable()
    }
  }

  /** One read of the history and one compare-and-set; null when another sync moved the historyId first. */
  async #syncOnce (userId: string): Promise<{ added: number, syncRequired: boolean } | null> {
    const row = await this.#prisma.gmailConnection.findUnique({ where: { userId }, select: { state: true, historyId: true, googleEmail: true, googleSub: true } })
    if (row?.state !== 'ACTIVE' || row.historyId == null) return { added: 0, syncRequired: false }
    const token = await this.#gmail.getGmailAccessToken(userId)
    const history = await this.#google.gmailHistory(token, row.historyId)
    const base = { userId, googleEmail: row.googleEmail }
    let events: OutboxEvent[]
    let next: string
    if (history == null) {
      next = (await this.#google.gmailProfile(token)).historyId
      events = [{ type: 'gmail.sync_required', userId, data: { ...base, historyId: next } }]
    } else {
      next = history.historyId
      events = history.messages.map(m => ({ type: 'gmail.message.added', userId, data: { ...base, messageId: m.id, threadId: m.threadId, historyId: m.historyId } }))
    }
    if (next === row.historyId && events.length === 0) return { added: 0, syncRequired: false }
    const recorded = await this.#prisma.$transaction(async (tx) => {
      const moved = await tx.gmailConnection.updateMany({ where: { userId, googleSub: row.googleSub, historyId: row.historyId }, data: { historyId: next } })
      // Another sync (a redelivered push, another process) recorded these already.
      if (moved.count !== 1) return false
      await recordEvents(tx, events)
      return true
    })
    return recorded ? { added: history == null ? 0 : events.length, syncRequired: history == null } : null
  }
}
