import { createHash, randomBytes } from 'node:crypto'
import type { EmulatorUser } from './directory.ts'
import type { MailboxMessage } from './mailbox.ts'

// Gmail push as Google runs it: users.watch / users.stop, the history of messages added since a historyId
// (kept for a while, then a 404 for an older start), and Cloud Pub/Sub's push subscription that POSTs
// `{ message: { data, messageId, publishTime }, subscription }` to an endpoint with a Google-signed OIDC token,
// retried with backoff on anything but a 2xx, at least once (the same messageId may come again).

export interface Watch { topicName: string, labelIds: string[], expiration: number }

export interface HistoryRecord { id: string, message: { id: string, threadId: string, labelIds: string[] } }

export interface PushSubscription {
  /** The push endpoint, e.g. http://127.0.0.1:4000/google/pubsub. */
  endpoint: string
  /** The OIDC token's `aud` (Pub/Sub's default: the endpoint URL). */
  audience?: string
  /** The service account the subscription authenticates as (`email` in the token). */
  serviceAccountEmail: string
  name?: string
}

export interface PushDelivery {
  messageId: string
  emailAddress: string
  historyId: string
  attempts: number
  last?: number | string
  state: 'pending' | 'delivered' | 'dropped'
}

export interface PushOptions {
  /** Waits before each retry (Pub/Sub: 10 s to 600 s); its length bounds the tries here. */
  retryDelaysMs?: number[]
}

const WATCH_TTL_MS = 7 * 86_400_000

export class GmailPush {
  readonly watches = new Map<string, Watch>()
  /** Messages delivered through the control API, newest last, by user sub. */
  readonly delivered = new Map<string, MailboxMessage[]>()
  readonly #history = new Map<string, HistoryRecord[]>()
  /** History older than this (by user) answers 404, as Google's after about a week. */
  readonly #oldestKept = new Map<string, bigint>()
  subscription: PushSubscription | undefined
  readonly deliveries: PushDelivery[] = []
  readonly #retryDelaysMs: number[]
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #now: () => number
  readonly #sign: (claims: Record<string, unknown>) => string

  constructor (deps: { now: () => number, sign: (claims: Record<string, unknown>) => string }, options: PushOptions = {}) {
    this.#now = deps.now
    this.#sign = deps.sign
    this.#retryDelaysMs = options.retryDelaysMs ?? [500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000]
  }

  watch (user: EmulatorUser, topicName: string, labelIds: string[]): { historyId: string, expiration: string } {
    const expiration = this.#now() + WATCH_TTL_MS
    this.watches.set(user.sub, { topicName, labelIds, expiration })
    this.#oldestKept.set(user.sub, this.#oldestKept.get(user.sub) ?? BigInt(user.historyId))
    return { historyId: user.historyId, expiration: String(expiration) }
  }

  stop (user: EmulatorUser): void {
    this.watches.delete(user.sub)
  }

  /** Added messages after `start`, or undefined when `start` is older than the history kept (Google's 404). */
  historySince (user: EmulatorUser, start: bigint): HistoryRecord[] | undefined {
    const oldest = this.#oldestKept.get(user.sub) ?? BigInt(user.historyId)
    if (start < oldest) return undefined
    return (this.#history.get(user.sub) ?? []).filter(h => BigInt(h.id) > start)
  }

  /** Forgets the history so far: a start before now answers 404 (what a week offline does). */
  expireHistory (user: EmulatorUser): void {
    this.#history.set(user.sub, [])
    this.#oldestKept.set(user.sub, BigInt(user.historyId))
  }

  /** A new message arrives in the user's INBOX: history moves on and, when watched, Pub/Sub pushes. */
  deliver (user: EmulatorUser, input: { from?: string, subject?: string, body?: string }): { message: MailboxMessage, push?: PushDelivery } {
    const historyId = String(BigInt(user.historyId) + 1n)
    user.historyId = historyId
    user.messagesTotal++
    user.threadsTotal++
    const id = createHash('sha256').update(`${user.sub}:delivered:${historyId}:${randomBytes(4).toString('hex')}`).digest('hex').slice(0, 16)
    const now = this.#now()
    const body = input.body ?? 'Hello from the emulator.'
    const message: MailboxMessage = {
      id,
      threadId: id,
      labelIds: ['INBOX', 'UNREAD'],
      snippet: body.slice(0, 100),
      historyId,
      internalDate: String(now),
      sizeEstimate: 1_000 + body.length,
      headers: [
        { name: 'From', value: input.from ?? 'Someone <someone@example.com>' },
        { name: 'To', value: user.email },
        { name: 'Subject', value: input.subject ?? '(no subject)' },
        { name: 'Date', value: new Date(now).toUTCString() }
      ],
      body
    }
    this.delivered.set(user.sub, [...(this.delivered.get(user.sub) ?? []), message])
    this.#history.set(user.sub, [...(this.#history.get(user.sub) ?? []), { id: historyId, message: { id, threadId: id, labelIds: message.labelIds } }])
    const watch = this.watches.get(user.sub)
    const live = watch != null && watch.expiration > now && watch.labelIds.every(l => message.labelIds.includes(l))
    return { message, push: live ? this.publish(user.email, historyId) : undefined }
  }

  /** Publishes a notification to the subscription (if one is configured); delivery is retried in the background. */
  publish (emailAddress: string, historyId: string): PushDelivery | undefined {
    const sub = this.subscription
    if (sub == null) return undefined
    const delivery: PushDelivery = { messageId: String(BigInt(`0x${randomBytes(6).toString('hex')}`)), emailAddress, historyId, attempts: 0, state: 'pending' }
    this.deliveries.push(delivery)
    void this.#attempt(sub, delivery)
    return delivery
  }

  /** Sends a delivery again as it was (Pub/Sub's at-least-once: the same messageId). */
  redeliver (messageId: string): PushDelivery | undefined {
    const delivery = this.deliveries.find(d => d.messageId === messageId)
    const sub = this.subscription
    if (delivery == null || sub == null) return undefined
    delivery.state = 'pending'
    void this.#attempt(sub, delivery)
    return delivery
  }

  /** The Google-signed OIDC token Pub/Sub attaches to each push. */
  oidcToken (sub: PushSubscription): string {
    const iat = Math.floor(this.#now() / 1000)
    return this.#sign({
      aud: sub.audience ?? sub.endpoint,
      azp: '100000000000000000777',
      email: sub.serviceAccountEmail,
      email_verified: true,
      sub: '100000000000000000777',
      iat,
      exp: iat + 3600
    })
  }

  async #attempt (sub: PushSubscription, delivery: PushDelivery): Promise<void> {
    delivery.attempts++
    const body = {
      message: {
        data: Buffer.from(JSON.stringify({ emailAddress: delivery.emailAddress, historyId: Number(delivery.historyId) })).toString('base64'),
        messageId: delivery.messageId,
        message_id: delivery.messageId,
        publishTime: new Date(this.#now()).toISOString()
      },
      subscription: sub.name ?? 'projects/inboxgate-emulator/subscriptions/gmail-push'
    }
    try {
      const res = await fetch(sub.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.oidcToken(sub)}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000)
      })
      delivery.last = res.status
      await res.arrayBuffer().catch(() => {})
      if (res.status >= 200 && res.status < 300) { delivery.state = 'delivered'; return }
    } catch (err) {
      delivery.last = (err as Error).message
    }
    const wait = this.#retryDelaysMs[delivery.attempts - 1]
    if (wait == null) { delivery.state = 'dropped'; return }
    const timer = setTimeout(() => { this.#timers.delete(timer); void this.#attempt(sub, delivery) }, wait)
    this.#timers.add(timer)
  }

  get pending (): number {
    return this.deliveries.filter(d => d.state === 'pending').length
  }

  reset (): void {
    this.close()
    this.watches.clear()
    this.deliveries.length = 0
  }

  close (): void {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }
}
