import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { EmulatorUser } from './directory.ts'
import type { GmailPush } from './push.ts'
import type { AccessToken } from './tokens.ts'

// A small synthetic mailbox per user (a few receipts and newsletters), for gmail.users.messages.list and .get
// with Google's shapes: ids are 16 hex digits, dates are strings of milliseconds, bodies are base64url.

interface Seed { from: string, subject: string, body: string, labels: string[], daysAgo: number }

const SEEDS: Seed[] = [
  { from: 'Acme Store <receipts@acme.example>', subject: 'Your receipt for order #10442', body: 'Thanks for your order. Total: $42.10, paid with Visa ending 4242.', labels: ['INBOX', 'CATEGORY_UPDATES'], daysAgo: 0 },
  { from: 'The Weekly Byte <news@weeklybyte.example>', subject: 'This week: TypeScript 6, Postgres 18 and more', body: 'Top stories of the week. Unsubscribe any time.', labels: ['INBOX', 'CATEGORY_PROMOTIONS'], daysAgo: 1 },
  { from: 'Cloud Hosting <billing@cloudhost.example>', subject: 'Invoice INV-2291 paid', body: 'We received your payment of $19.00 for November. Thank you.', labels: ['INBOX', 'CATEGORY_UPDATES'], daysAgo: 2 },
  { from: 'City Rides <receipts@cityrides.example>', subject: 'Your Tuesday evening trip', body: 'Trip total: $13.75. Rate your driver.', labels: ['INBOX', 'CATEGORY_UPDATES', 'UNREAD'], daysAgo: 3 },
  { from: 'Gardening Monthly <hello@gardening.example>', subject: 'Bulbs to plant before the frost', body: 'Our picks for the season, and a reader question.', labels: ['INBOX', 'CATEGORY_PROMOTIONS', 'UNREAD'], daysAgo: 5 },
  { from: 'Book Nook <orders@booknook.example>', subject: 'Order confirmation: 2 items', body: 'Subtotal $31.98, shipping free. Arrives Friday.', labels: ['INBOX', 'CATEGORY_UPDATES'], daysAgo: 8 }
]

const DAY = 86_400_000

export interface MailboxMessage {
  id: string
  threadId: string
  labelIds: string[]
  snippet: string
  historyId: string
  internalDate: string
  sizeEstimate: number
  headers: Array<{ name: string, value: string }>
  body: string
}

/** The same messages for the same user on every start (ids from the user's sub), dated back from `now`. */
export function mailboxOf (user: EmulatorUser, now: number): MailboxMessage[] {
  return SEEDS.map((seed, i) => {
    const id = createHash('sha256').update(`${user.sub}:${i}`).digest('hex').slice(0, 16)
    const date = new Date(now - seed.daysAgo * DAY - i * 3_600_000)
    return {
      id,
      threadId: id,
      labelIds: seed.labels,
      snippet: seed.body.slice(0, 100),
      historyId: String(Number(user.historyId) + i),
      internalDate: String(date.getTime()),
      sizeEstimate: 1_000 + seed.body.length,
      headers: [
        { name: 'From', value: seed.from },
        { name: 'To', value: user.email },
        { name: 'Subject', value: seed.subject },
        { name: 'Date', value: date.toUTCString() }
      ],
      body: seed.body
    }
  })
}

export interface MailboxDeps {
  users: Map<string, EmulatorUser>
  now: () => number
  accessToken: (request: FastifyRequest) => AccessToken | undefined
  unauthenticated: (reply: FastifyReply) => FastifyReply
  insufficientScope: (reply: FastifyReply, method: string) => FastifyReply
  apiError: (code: number, status: string, message: string, error: Record<string, string>) => unknown
  /** Scopes that may read messages (metadata only with gmail.metadata). */
  readScopes: string[]
  push: GmailPush
}

const METADATA = 'https://www.googleapis.com/auth/gmail.metadata'

export function registerMailbox (app: FastifyInstance, deps: MailboxDeps): void {
  // The seeded messages plus those delivered through the control API, newest first as Gmail lists them.
  const messagesOf = (user: EmulatorUser) => [...(deps.push.delivered.get(user.sub) ?? [])].reverse().concat(mailboxOf(user, deps.now()))
  const notFound = (reply: FastifyReply) => reply.code(404).send(deps.apiError(404, 'NOT_FOUND', 'Requested entity was not found.', { reason: 'notFound' }))
  const badRequest = (reply: FastifyReply, message: string) => reply.code(400).send(deps.apiError(400, 'INVALID_ARGUMENT', message, { reason: 'invalidArgument' }))

  /** The caller's user, or an error already sent (401, 403 scope, 403 delegation). */
  const owner = (request: FastifyRequest, reply: FastifyReply, method: string): { user: EmulatorUser, metadataOnly: boolean } | undefined => {
    const at = deps.accessToken(request)
    const user = at && deps.users.get(at.sub)
    if (!at || !user) { deps.unauthenticated(reply); return undefined }
    if (!at.scopes.some(s => deps.readScopes.includes(s))) { deps.insufficientScope(reply, method); return undefined }
    const { userId } = request.params as { userId: string }
    if (userId !== 'me' && userId.toLowerCase() !== user.email.toLowerCase()) {
      reply.code(403).send(deps.apiError(403, 'PERMISSION_DENIED', `Delegation denied for ${user.email}`, { reason: 'forbidden' }))
      return undefined
    }
    const metadataOnly = !at.scopes.some(s => s !== METADATA && deps.readScopes.includes(s))
    return { user, metadataOnly }
  }

  app.get('/gmail/v1/users/:userId/messages', async (request, reply) => {
    const who = owner(request, reply, 'caribou.api.proto.MailboxService.ListMessages')
    if (!who) return reply
    const query = request.query as { maxResults?: string, pageToken?: string, labelIds?: string | string[] }
    const max = query.maxResults == null ? 100 : Number(query.maxResults)
    if (!Number.isInteger(max) || max < 1) return badRequest(reply, 'Invalid value for maxResults')
    const labels = [query.labelIds ?? []].flat()
    const all = messagesOf(who.user).filter(m => labels.every(l => m.labelIds.includes(l)))
    const start = query.pageToken == null ? 0 : Number.parseInt(query.pageToken, 10)
    if (!Number.isInteger(start) || start < 0) return badRequest(reply, 'Invalid pageToken')
    const page = all.slice(start, start + Math.min(max, 500))
    const next = start + page.length < all.length ? String(start + page.length) : undefined
    // Google leaves `messages` out entirely (not []) when nothing matches.
    return { ...(page.length > 0 ? { messages: page.map(m => ({ id: m.id, threadId: m.threadId })) } : {}), ...(next ? { nextPageToken: next } : {}), resultSizeEstimate: all.length }
  })

  app.get('/gmail/v1/users/:userId/messages/:id', async (request, reply) => {
    const who = owner(request, reply, 'caribou.api.proto.MailboxService.GetMessage')
    if (!who) return reply
    const { id } = request.params as { id: string }
    const { format = 'full' } = request.query as { format?: string }
    if (!['full', 'metadata', 'minimal', 'raw'].includes(format)) return badRequest(reply, `Invalid value at 'format' (${format})`)
    if (who.metadataOnly && format !== 'metadata' && format !== 'minimal') {
      return reply.code(403).send(deps.apiError(403, 'PERMISSION_DENIED', `Metadata scope doesn't allow format ${format.toUpperCase()}`, { reason: 'forbidden' }))
    }
    if (!/^[0-9a-f]{1,32}$/.test(id)) return badRequest(reply, 'Invalid id value')
    const m = messagesOf(who.user).find(x => x.id === id)
    if (!m) return notFound(reply)
    const base = { id: m.id, threadId: m.threadId, labelIds: m.labelIds, snippet: m.snippet, sizeEstimate: m.sizeEstimate, historyId: m.historyId, internalDate: m.internalDate }
    if (format === 'minimal') return base
    if (format === 'raw') {
      const raw = m.headers.map(h => `${h.name}: ${h.value}`).join('\r\n') + '\r\nContent-Type: text/plain; charset="UTF-8"\r\n\r\n' + m.body + '\r\n'
      return { ...base, raw: Buffer.from(raw).toString('base64url') }
    }
    const headers = [...m.headers, { name: 'Content-Type', value: 'text/plain; charset="UTF-8"' }]
    return {
      ...base,
      payload: {
        partId: '',
        mimeType: 'text/plain',
        filename: '',
        headers,
        body: format === 'metadata' ? { size: Buffer.byteLength(m.body) } : { size: Buffer.byteLength(m.body), data: Buffer.from(m.body).toString('base64url') }
      }
    }
  })

  // users.watch: a Pub/Sub topic in Google's name form; labelIds filter what notifies (INBOX here).
  app.post('/gmail/v1/users/:userId/watch', async (request, reply) => {
    const who = owner(request, reply, 'caribou.api.proto.MailboxService.Watch')
    if (!who) return reply
    const body = (request.body ?? {}) as { topicName?: unknown, labelIds?: unknown }
    if (typeof body.topicName !== 'string' || !/^projects\/[^/]+\/topics\/[^/]+$/.test(body.topicName)) {
      return badRequest(reply, 'Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC')
    }
    const labels = Array.isArray(body.labelIds) ? body.labelIds.map(String) : []
    return deps.push.watch(who.user, body.topicName, labels)
  })

  app.post('/gmail/v1/users/:userId/stop', async (request, reply) => {
    const who = owner(request, reply, 'caribou.api.proto.MailboxService.Stop')
    if (!who) return reply
    deps.push.stop(who.user)
    return reply.code(204).send()
  })

  app.get('/gmail/v1/users/:userId/history', async (request, reply) => {
    const who = owner(request, reply, 'caribou.api.proto.MailboxService.ListHistory')
    if (!who) return reply
    const query = request.query as { startHistoryId?: string, pageToken?: string, maxResults?: string }
    if (query.startHistoryId == null || !/^\d{1,20}$/.test(query.startHistoryId)) return badRequest(reply, 'Invalid startHistoryId')
    const records = deps.push.historySince(who.user, BigInt(query.startHistoryId))
    if (records == null) return notFound(reply)
    const max = Math.min(query.maxResults == null ? 100 : Number(query.maxResults), 500)
    const start = query.pageToken == null ? 0 : Number.parseInt(query.pageToken, 10)
    if (!Number.isInteger(max) || max < 1 || !Number.isInteger(start) || start < 0) return badRequest(reply, 'Invalid maxResults or pageToken')
    const page = records.slice(start, start + max)
    const next = start + page.length < records.length ? String(start + page.length) : undefined
    return {
      // Google leaves `history` out when nothing changed.
      ...(page.length > 0 ? { history: page.map(h => ({ id: h.id, messages: [h.message], messagesAdded: [{ message: h.message }] })) } : {}),
      ...(next ? { nextPageToken: next } : {}),
      historyId: who.user.historyId
    }
  })
}
