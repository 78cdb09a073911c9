import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { AppError } from '../errors.ts'
import { GoogleRejectedError } from '../google/google-gateway.ts'
import { clientErrorStatus } from '../http/error-handler.ts'
import type { MailboxEvents } from './mailbox-events.ts'

// A Pub/Sub push body is a few hundred bytes; anything near this is not one.
const MAX_PUSH_BYTES = 16 * 1024

interface PushBody { message?: { data?: unknown, messageId?: unknown, message_id?: unknown }, subscription?: unknown }

const problem = (reply: FastifyReply, status: number, error: string, description: string) =>
  reply.code(status).send({ error, error_description: description })

/**
 * `POST /google/pubsub`: Gmail's notifications through a Cloud Pub/Sub push subscription. Nothing in the request
 * is believed before the Google-signed OIDC token in `Authorization` is verified (signature, issuer, expiry,
 * `aud` = GMAIL_PUSH_AUDIENCE) and names our subscription's service account (`email`, verified). Then the body's
 * `emailAddress` only selects which connection to look at: what changed is read from Gmail itself. 204 once
 * handled (and for a repeated `messageId`, or an address we hold no connection for); 401/403 for a bad token;
 * 400 for a malformed body; 503 when Google or the database cannot be reached, so that Pub/Sub delivers again.
 */
export default async function pubsubRoutes (app: FastifyInstance, opts: { mailboxEvents: MailboxEvents }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_PUSH_BYTES }, (_req, body, done) => { done(null, body) })
  // Fastify's own refusals (a body over the limit, a body without a content type) in this route's shape, not
  // Fastify's; anything unexpected is a 503 so that Pub/Sub delivers again.
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const status = clientErrorStatus(err)
    if (status != null) return await problem(reply, status, 'invalid_request', err.message)
    request.log.error({ err }, 'Gmail push could not be handled')
    return await problem(reply.header('retry-after', '10'), 503, 'temporarily_unavailable', 'Try again later')
  })
  const google = app.googleGateway
  const { GMAIL_PUSH_AUDIENCE: audience, GMAIL_PUSH_SERVICE_ACCOUNT: serviceAccount } = app.config

  app.post('/google/pubsub', async (request, reply) => {
    const token = /^Bearer\s+([A-Za-z0-9_.-]+)$/i.exec(request.headers.authorization ?? '')?.[1]
    if (token == null) return problem(reply.header('www-authenticate', 'Bearer'), 401, 'invalid_token', 'A Google-signed OIDC token is required')
    let identity
    try {
      identity = await google.verifyPushToken(token, audience)
    } catch (err) {
      if (err instanceof GoogleRejectedError) return problem(reply.header('www-authenticate', 'Bearer error="invalid_token"'), 401, 'invalid_token', 'The OIDC token is invalid')
      request.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'Google keys unavailable for a Pub/Sub push')
      return problem(reply.header('retry-after', '10'), 503, 'temporarily_unavailable', 'Try again later')
    }
    if (identity.email?.toLowerCase() !== serviceAccount?.toLowerCase() || !identity.emailVerified) {
      request.log.warn('Pub/Sub push from another service account refused')
      return problem(reply, 403, 'forbidden', 'The OIDC token is not from the configured push service account')
    }

    let messageId: string
    let emailAddress: string
    try {
      const body = JSON.parse(typeof request.body === 'string' ? request.body : '') as PushBody
      const id = body.message?.messageId ?? body.message?.message_id
      const data = JSON.parse(Buffer.from(String(body.message?.data ?? ''), 'base64').toString('utf8')) as { emailAddress?: unknown }
      if (typeof id !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(id) || typeof data.emailAddress !== 'string' || data.emailAddress.length > 320) throw new Error('shape')
      messageId = id
      emailAddress = data.emailAddress.trim().toLowerCase()
    } catch {
      return problem(reply, 400, 'invalid_request', 'Not a Gmail push notification')
    }

    // At least once: the same messageId again is acknowledged without work. The claim is given back on failure.
    const claimed = await app.prisma.pubsubMessage.createMany({ data: [{ messageId, receivedAt: app.clock.now() }], skipDuplicates: true })
    if (claimed.count === 0) return reply.code(204).send()
    try {
      const connection = await app.prisma.gmailConnection.findFirst({ where: { googleEmail: { equals: emailAddress, mode: 'insensitive' }, state: 'ACTIVE' }, select: { userId: true } })
      if (connection != null) {
        const { added, syncRequired } = await opts.mailboxEvents.sync(connection.userId)
        request.log.info({ userId: connection.userId, added, syncRequired }, 'Gmail push handled')
        if (added > 0 || syncRequired) app.webhookDeliverer?.wake()
      }
      return reply.code(204).send()
    } catch (err) {
      await app.prisma.pubsubMessage.deleteMany({ where: { messageId } }).catch(() => {})
      // The grant died meanwhile (RECONNECT_REQUIRED, …): nothing to read, nothing to retry.
      if (err instanceof AppError && err.code !== 'GOOGLE_UNAVAILABLE' && err.code !== 'VAULT_UNAVAILABLE' && err.code !== 'DATABASE_UNAVAILABLE') return reply.code(204).send()
      request.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'Gmail push not handled; Pub/Sub will deliver again')
      return problem(reply.header('retry-after', '10'), 503, 'temporarily_unavailable', 'Try again later')
    }
  })
}
