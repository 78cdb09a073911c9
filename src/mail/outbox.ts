import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import type { Clock } from '../clock.ts'
import type { MailKind, MailOutbox as OutboxRow, PrismaClient } from '../generated/prisma/client.ts'
import type { MailMessage, MailTransport } from './mail-transport.ts'
import { mailErrorCode, smtpTransport } from './mail-transport.ts'

/**
 * What a kind of mail becomes when it is sent: the message and the token minted for it, or null when there is
 * nothing to send any more (the user is gone or verified, the address has no account). Registered by the feature
 * that owns the kind (email verification, password reset), so this mechanism knows no feature.
 */
export type MailComposer = (row: OutboxRow) => Promise<{ message: MailMessage, tokenId: string } | null>

/** Retries back off 5 s, 10 s, 20 s … up to 5 minutes, until the row's expiry (the token's own lifetime). */
const backoffMs = (attempts: number): number => Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 300_000)
/** How long a worker holds a row it is sending: longer than nodemailer's connect + socket timeouts (30 s). */
const LEASE_MS = 60_000
const POLL_MS = 5_000
const BATCH = 20

/**
 * The mail outbox. A request writes one row (kind, user or address) and returns: it never waits for SMTP, so an
 * outage cannot fail it. A worker in every server process sends due rows and retries failures with backoff; a
 * row survives restarts because it is in the database. A row holds no secret: the single-use token is minted by
 * the composer at send time, and a retry deletes the token of the failed attempt before minting another. Rows go
 * once sent, or unsent once they expire. Several processes share the table: a row is claimed with a lease (a
 * compare-and-set on `lease_until`), and no transaction is held across the SMTP call.
 */
export class MailOutbox {
  readonly #prisma: PrismaClient
  readonly #clock: Clock
  readonly #transport: MailTransport | null
  readonly #log: FastifyBaseLogger
  readonly #composers = new Map<MailKind, MailComposer>()
  #timer: NodeJS.Timeout | undefined
  #draining: Promise<number> | undefined
  #stopped = false
  #started = false

  constructor (deps: { prisma: PrismaClient, clock: Clock, transport: MailTransport | null, log: FastifyBaseLogger }) {
    this.#prisma = deps.prisma
    this.#clock = deps.clock
    this.#transport = deps.transport
    this.#log = deps.log
  }

  register (kind: MailKind, composer: MailComposer): void {
    this.#composers.set(kind, composer)
  }

  /**
   * Queues one mail. Never throws: a mail that could not even be queued is logged, and the user can ask again
   * (resendVerificationEmail, requestPasswordReset); the operation that wanted it still succeeds.
   */
  async enqueue (kind: MailKind, target: { userId?: string, email?: string }, ttlSeconds: number): Promise<void> {
    try {
      const now = this.#clock.now()
      await this.#prisma.mailOutbox.create({
        data: { kind, userId: target.userId ?? null, email: target.email ?? null, nextAttemptAt: now, expiresAt: new Date(now.getTime() + ttlSeconds * 1000) }
      })
    } catch (err) {
      this.#log.error({ err: { code: mailErrorCode(err) }, kind }, 'mail could not be queued')
      return
    }
    this.kick()
  }

  /**
   * Sends what is due soon, without making the caller wait. Only in a started outbox (a server's, not an admin
   * command's: `backgroundJobs`); `drain` sends regardless.
   */
  kick (): void {
    if (this.#transport == null || !this.#started || this.#stopped) return
    setImmediate(() => { this.drain().catch((err) => this.#log.error({ err }, 'mail outbox drain failed')) })
  }

  /**
   * Sends every due row once, after any pass already running (which may have started before a row was queued).
   * Tests call it after moving the clock; resolves with the number sent.
   */
  async drain (): Promise<number> {
    while (this.#draining != null) await this.#draining.catch(() => {})
    this.#draining = this.#pass().finally(() => { this.#draining = undefined })
    return await this.#draining
  }

  async #pass (): Promise<number> {
    if (this.#transport == null) return 0
    const now = this.#clock.now()
    const due = await this.#prisma.mailOutbox.findMany({
      where: { nextAttemptAt: { lte: now }, OR: [{ leaseUntil: null }, { leaseUntil: { lt: now } }] },
      orderBy: { nextAttemptAt: 'asc' },
      take: BATCH,
      select: { id: true }
    })
    let sent = 0
    for (const { id } of due) {
      if (this.#stopped) break
      if (await this.#sendOne(id, this.#transport)) sent++
    }
    return sent
  }

  async #sendOne (id: string, transport: MailTransport): Promise<boolean> {
    const now = this.#clock.now()
    const { count } = await this.#prisma.mailOutbox.updateMany({
      where: { id, OR: [{ leaseUntil: null }, { leaseUntil: { lt: now } }] },
      data: { leaseUntil: new Date(now.getTime() + LEASE_MS), attempts: { increment: 1 } }
    })
    if (count === 0) return false // another process took it
    const row = await this.#prisma.mailOutbox.findUnique({ where: { id } })
    if (row == null) return false
    // The previous attempt's token never reached anyone (its send failed): it must not stay valid.
    if (row.tokenId != null) await this.#prisma.emailToken.deleteMany({ where: { id: row.tokenId } })
    if (row.expiresAt <= now) {
      await this.#prisma.mailOutbox.deleteMany({ where: { id } })
      this.#log.warn({ mailId: id, kind: row.kind, attempts: row.attempts, lastError: row.lastError }, 'mail dropped unsent: expired')
      return false
    }
    const composer = this.#composers.get(row.kind)
    let tokenId: string | null = null
    try {
      const composed = composer == null ? null : await composer(row)
      if (composed == null) {
        await this.#prisma.mailOutbox.deleteMany({ where: { id } })
        return false
      }
      tokenId = composed.tokenId
      await transport.send(composed.message)
    } catch (err) {
      const code = mailErrorCode(err)
      await this.#prisma.mailOutbox.updateMany({
        where: { id },
        data: { leaseUntil: null, tokenId, lastError: code, nextAttemptAt: new Date(now.getTime() + backoffMs(row.attempts)) }
      })
      this.#log.warn({ mailId: id, kind: row.kind, attempts: row.attempts, lastError: code }, 'mail not sent; will retry')
      return false
    }
    await this.#prisma.mailOutbox.deleteMany({ where: { id } })
    this.#log.info({ mailId: id, kind: row.kind, attempts: row.attempts }, 'mail sent')
    return true
  }

  /** Polls for due rows (retries, and rows other processes queued) every few seconds. */
  start (): void {
    if (this.#transport == null) return
    this.#started = true
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        this.drain().catch((err) => this.#log.error({ err }, 'mail outbox drain failed')).finally(() => { if (!this.#stopped) tick() })
      }, POLL_MS)
      this.#timer.unref()
    }
    tick()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#draining?.catch(() => {})
    this.#transport?.close()
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    mailOutbox: MailOutbox
  }
}

export default fp(async (app) => {
  const c = app.config
  const transport = c.SMTP_URL == null ? null : smtpTransport(c.SMTP_URL, c.MAIL_FROM)
  const outbox = new MailOutbox({ prisma: app.prisma, clock: app.clock, transport, log: app.log })
  app.decorate('mailOutbox', outbox)
  app.addHook('onReady', async () => {
    if (!app.backgroundJobs) return
    if (transport == null) app.log.warn('SMTP_URL is not set: verification and password-reset mail is queued but not sent (docs/email.md)')
    outbox.start()
  })
  // Before Prisma closes (plugins close in reverse order of registration).
  app.addHook('onClose', async () => { await outbox.stop() })
}, { name: 'mail-outbox', dependencies: ['prisma'] })
