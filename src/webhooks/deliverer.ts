import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Webhook } from 'standardwebhooks'
import type { Clock } from '../clock.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { AuditLog } from '../audit-log/audit-log.ts'
import { checkEndpointAddresses } from './endpoint-url.ts'

export interface DelivererOptions {
  timeoutMs: number
  pollIntervalMs: number
  concurrencyPerEndpoint: number
  disableAfterMs: number
  production: boolean
}

export type DeliveryOutcome = 'delivered' | 'failed_attempt' | 'gave_up' | 'interrupted'

export interface WebhookMetrics {
  delivery (outcome: DeliveryOutcome, seconds: number): void
}

/** Retries: 5 s doubling to an hour, with full jitter on the upper half, for as long as the endpoint is not disabled. */
export function retryDelayMs (attempts: number): number {
  const ceiling = Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 3_600_000)
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2)
}

/** Margin over the timeout before another process may take over a delivery whose process died mid-flight. */
const LEASE_MARGIN_MS = 30_000
const DISPATCH_BATCH = 200
const CLAIM_BATCH = 100

/**
 * Webhooks out (docs/events.md): fans each outbox event out to the endpoints that may receive it, then delivers
 * them, at least once, signed as Standard Webhooks 1.0 (`webhook-id` = the delivery's id, the same on retries).
 * Every process runs one; each delivery is claimed with a lease (compare-and-set on `lease_until`), so in normal
 * operation each is sent once however many processes run, and one whose process died is taken again when its
 * lease ends (≤ timeout + 30 s). No connection is held while an endpoint answers; a slow endpoint holds at most
 * `concurrencyPerEndpoint` deliveries of this process and never delays the others.
 */
export class WebhookDeliverer {
  readonly #prisma: PrismaClient
  readonly #clock: Clock
  readonly #log: FastifyBaseLogger
  readonly #options: DelivererOptions
  readonly #events: AuditLog
  readonly #metrics: WebhookMetrics | undefined
  readonly #inFlight = new Map<string, Set<Promise<void>>>()
  readonly #abort = new AbortController()
  #timer: NodeJS.Timeout | undefined
  #ticking: Promise<void> | undefined
  #again = false

  constructor (deps: { prisma: PrismaClient, clock: Clock, log: FastifyBaseLogger, options: DelivererOptions, auditLog: AuditLog, metrics?: WebhookMetrics }) {
    this.#prisma = deps.prisma
    this.#clock = deps.clock
    this.#log = deps.log
    this.#options = deps.options
    this.#events = deps.auditLog
    this.#metrics = deps.metrics
  }

  start (): void {
    this.#timer = setInterval(() => this.wake(), this.#options.pollIntervalMs)
    this.#timer.unref()
    this.wake()
  }

  /** Looks for work now (an event was just recorded), without waiting for the next poll. */
  wake (): void {
    if (this.#abort.signal.aborted) return
    if (this.#ticking != null) { this.#again = true; return }
    this.#ticking = this.tick().finally(() => {
      this.#ticking = undefined
      if (this.#again) { this.#again = false; this.wake() }
    })
  }

  /** One pass: fan out new events, start the deliveries due. Failures (database down) wait for the next pass. */
  async tick (): Promise<void> {
    try {
      await this.dispatch()
      await this.deliverDue()
    } catch (err) {
      this.#log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'webhook pass failed; retrying at the next poll')
    }
  }

  /**
   * Fans undispatched events out into deliveries, in one transaction per batch (rows locked, others skipped). Who
   * receives an event about a user: clients acting for every user (`--all-users`) and clients the user authorized
   * (authorizeService), the least-privilege rule of the token exchange; an event meant for one client (its
   * authorization ended) only that client; an event about no user, every client.
   */
  async dispatch (): Promise<number> {
    return await this.#prisma.$transaction(async (tx) => {
      const events = await tx.$queryRaw<Array<{ id: string, type: string, userId: string | null, clientId: string | null }>>`
        SELECT "id", "type", "user_id"::text AS "userId", "client_id" AS "clientId" FROM "webhook_events"
        WHERE "dispatched_at" IS NULL ORDER BY "created_at" LIMIT ${DISPATCH_BATCH} FOR UPDATE SKIP LOCKED`
      if (events.length === 0) return 0
      const endpoints = await tx.webhookEndpoint.findMany({
        where: { disabledAt: null, client: { revokedAt: null } },
        select: { id: true, clientId: true, eventTypes: true, client: { select: { allUsers: true } } }
      })
      const userIds = [...new Set(events.flatMap(e => e.userId == null ? [] : [e.userId]))]
      const authorized = new Set((await tx.serviceAuthorization.findMany({ where: { userId: { in: userIds } }, select: { userId: true, clientId: true } }))
        .map(a => `${a.userId}:${a.clientId}`))
      const mayReceive = (event: { type: string, userId: string | null, clientId: string | null }, endpoint: { clientId: string, client: { allUsers: boolean } }) => {
        // A client acting for every user hears of a deletion through the untargeted user.deleted: not twice.
        if (event.clientId != null) return event.clientId === endpoint.clientId && !(event.type === 'user.deleted' && endpoint.client.allUsers)
        return event.userId == null || endpoint.client.allUsers || authorized.has(`${event.userId}:${endpoint.clientId}`)
      }
      const rows: Array<{ id: string, eventId: string, endpointId: string, nextAttemptAt: Date, createdAt: Date }> = []
      const now = this.#clock.now()
      for (const event of events) {
        for (const endpoint of endpoints) {
          if (endpoint.eventTypes.length > 0 && !endpoint.eventTypes.includes(event.type)) continue
          if (!mayReceive(event, endpoint)) continue
          rows.push({ id: `msg_${randomBytes(16).toString('base64url')}`, eventId: event.id, endpointId: endpoint.id, nextAttemptAt: now, createdAt: now })
        }
      }
      if (rows.length > 0) await tx.webhookDelivery.createMany({ data: rows, skipDuplicates: true })
      await tx.webhookEvent.updateMany({ where: { id: { in: events.map(e => e.id) } }, data: { dispatchedAt: now } })
      return events.length
    })
  }

  /** Claims due deliveries (leaving endpoints this process is already busy with at their limit) and starts them. */
  async deliverDue (): Promise<number> {
    const now = this.#clock.now()
    const due = await this.#prisma.webhookDelivery.findMany({
      where: { state: 'PENDING', nextAttemptAt: { lte: now }, OR: [{ leaseUntil: null }, { leaseUntil: { lte: now } }] },
      select: { id: true, endpointId: true },
      orderBy: { nextAttemptAt: 'asc' },
      take: CLAIM_BATCH
    })
    const picked: string[] = []
    const room = new Map<string, number>()
    for (const d of due) {
      const free = room.get(d.endpointId) ?? this.#options.concurrencyPerEndpoint - (this.#inFlight.get(d.endpointId)?.size ?? 0)
      if (free <= 0) continue
      room.set(d.endpointId, free - 1)
      picked.push(d.id)
    }
    if (picked.length === 0) return 0
    const lease = new Date(now.getTime() + this.#options.timeoutMs + LEASE_MARGIN_MS)
    // The claim: only rows still unleased (or whose lease ended) when this statement runs; a concurrent claimer's
    // update makes the row fail the re-checked condition here.
    const claimed = await this.#prisma.$queryRaw<Array<{ id: string, endpointId: string, attempts: number }>>`
      UPDATE "webhook_deliveries" SET "lease_until" = ${lease}, "attempts" = "attempts" + 1
      WHERE "id" = ANY(${picked}::text[]) AND "state" = 'PENDING' AND ("lease_until" IS NULL OR "lease_until" <= ${now})
      RETURNING "id", "endpoint_id" AS "endpointId", "attempts"`
    for (const d of claimed) {
      const set = this.#inFlight.get(d.endpointId) ?? new Set()
      this.#inFlight.set(d.endpointId, set)
      const running: Promise<void> = this.#deliver(d.id, lease, d.attempts).catch((err: unknown) => {
        this.#log.error({ err: { name: (err as Error).name, message: (err as Error).message }, deliveryId: d.id }, 'webhook delivery bookkeeping failed')
      }).finally(() => {
        set.delete(running)
        if (set.size === 0) this.#inFlight.delete(d.endpointId)
        this.wake()
      })
      set.add(running)
    }
    return claimed.length
  }

  async #deliver (id: string, lease: Date, attempts: number): Promise<void> {
    const delivery = await this.#prisma.webhookDelivery.findUnique({ where: { id }, include: { event: true, endpoint: true } })
    if (delivery == null) return
    const { event, endpoint } = delivery
    // Fenced by the lease: if it ended and another process took the delivery over, this one writes nothing.
    const settle = async (data: Record<string, unknown>) =>
      await this.#prisma.webhookDelivery.updateMany({ where: { id, leaseUntil: lease }, data: { leaseUntil: null, ...data } })
    if (endpoint.disabledAt != null) {
      await settle({ state: 'FAILED', lastError: 'endpoint disabled' })
      return
    }
    const body = JSON.stringify({ type: event.type, timestamp: event.createdAt.toISOString(), data: event.data })
    const started = performance.now()
    let status: number | null = null
    let error: string | null = null
    try {
      if (this.#options.production) await checkEndpointAddresses(new URL(endpoint.url))
      // The receiver compares webhook-timestamp with its own wall clock: sign with the wall clock.
      const signedAt = new Date()
      const secrets = [endpoint.secret, ...(endpoint.previousSecret != null && (endpoint.previousSecretUntil?.getTime() ?? 0) > this.#clock.now().getTime() ? [endpoint.previousSecret] : [])]
      const signature = secrets.map(s => new Webhook(s).sign(id, signedAt, body)).join(' ')
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'inboxgate-webhooks/1',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(signedAt.getTime() / 1000)),
          'webhook-signature': signature
        },
        body,
        // A redirect could lead anywhere (SSRF): an endpoint answers itself or fails.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.#options.timeoutMs), this.#abort.signal])
      })
      status = response.status
      await response.body?.cancel().catch(() => {})
    } catch (err) {
      if (this.#abort.signal.aborted) {
        // Shutting down: not the endpoint's fault; the attempt is given back and taken again at once elsewhere.
        await settle({ attempts: Math.max(0, attempts - 1) })
        this.#metrics?.delivery('interrupted', (performance.now() - started) / 1000)
        return
      }
      error = (err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).name === 'EndpointUrlError' ? (err as Error).message : 'network error'
    }
    const seconds = (performance.now() - started) / 1000
    const now = this.#clock.now()
    if (status != null && status >= 200 && status < 300) {
      await settle({ state: 'DELIVERED', deliveredAt: now, lastStatus: status, lastError: null })
      if (endpoint.failingSince != null) await this.#prisma.webhookEndpoint.updateMany({ where: { id: endpoint.id }, data: { failingSince: null } })
      this.#metrics?.delivery('delivered', seconds)
      return
    }
    const failingSince = endpoint.failingSince ?? now
    const disable = now.getTime() - failingSince.getTime() >= this.#options.disableAfterMs
    const giveUp = disable || now.getTime() - delivery.createdAt.getTime() >= this.#options.disableAfterMs
    await settle(giveUp
      ? { state: 'FAILED', lastStatus: status, lastError: error ?? `HTTP ${status}` }
      : { nextAttemptAt: new Date(now.getTime() + retryDelayMs(attempts)), lastStatus: status, lastError: error ?? `HTTP ${status}` })
    this.#metrics?.delivery(giveUp ? 'gave_up' : 'failed_attempt', seconds)
    this.#log.info({ deliveryId: id, webhookId: endpoint.id, status, error, attempts, giveUp }, 'webhook delivery failed')
    if (endpoint.failingSince == null) await this.#prisma.webhookEndpoint.updateMany({ where: { id: endpoint.id, failingSince: null }, data: { failingSince: now } })
    if (disable) {
      const disabled = await this.#prisma.webhookEndpoint.updateMany({ where: { id: endpoint.id, disabledAt: null }, data: { disabledAt: now } })
      if (disabled.count === 1) {
        this.#log.warn({ webhookId: endpoint.id, clientId: endpoint.clientId }, 'webhook endpoint disabled after failing for too long')
        await this.#events.record('WEBHOOK_ENDPOINT_DISABLED', { detail: { webhookId: endpoint.id, clientId: endpoint.clientId, failingSince: failingSince.toISOString() } })
      }
    }
  }

  /** Waits for the deliveries this process has started (tests, and shutdown). */
  async idle (): Promise<void> {
    while (this.#ticking != null || this.#inFlight.size > 0) {
      await this.#ticking
      await Promise.all([...this.#inFlight.values()].flatMap(s => [...s]))
    }
  }

  async stop (): Promise<void> {
    if (this.#timer != null) clearInterval(this.#timer)
    this.#abort.abort()
    await this.#ticking
    await Promise.all([...this.#inFlight.values()].flatMap(s => [...s]))
  }
}
