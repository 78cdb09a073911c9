import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AppleRejectedError } from '../apple/apple-gateway.ts'
import { isUniqueViolation } from '../db/prisma-errors.ts'
import { AppError } from '../errors.ts'
import { clientErrorStatus } from '../http/error-handler.ts'

/*
 * POST /apple/notifications: Sign in with Apple's server-to-server notifications (the endpoint registered for the
 * app in Apple's developer portal). The body is `{ "payload": "<JWS>" }`, signed with Apple's keys (RS256), `aud`
 * one of APPLE_CLIENT_IDS; its `events` claim is a JSON string: `{ type, sub, event_time (ms), email?,
 * is_private_email? }`. Honoured like Google's RISC events:
 *
 *   consent-revoked, account-delete (spelt account-deleted in newer docs): the Apple account is unlinked from the
 *     user and every session of the user ends (sessions carry no sign-in method: all of them, the safe side);
 *   email-disabled / email-enabled: the private-relay address stops / resumes forwarding — recorded on the user
 *     (only when newer than the last such event: Apple may deliver out of order).
 *
 * Each notification takes effect once (its `jti` is kept with Google's in received_security_events); a forged,
 * foreign or stale one is refused with 400 and changes nothing. Answers are OAuth-style `{ error }` bodies.
 */

const ENDING = new Map<string, 'APPLE_CONSENT_REVOKED' | 'APPLE_ACCOUNT_DELETED'>([
  ['consent-revoked', 'APPLE_CONSENT_REVOKED'],
  ['account-delete', 'APPLE_ACCOUNT_DELETED'],
  ['account-deleted', 'APPLE_ACCOUNT_DELETED']
])

/** Encapsulated (not through fastify-plugin): the error handler below is this route's alone. */
async function notificationRoutes (app: FastifyInstance): Promise<void> {
  // Fastify's own refusals (a body over the limit, a content type or JSON it cannot parse) in this route's
  // `{ error, error_description }`, not Fastify's shape; anything else unexpected is a 503 so that Apple retries.
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const status = clientErrorStatus(err)
    if (status != null) return await reply.code(status).send({ error: 'invalid_request', error_description: err.message })
    request.log.error({ err }, 'Apple notification could not be handled')
    return await reply.code(503).header('retry-after', '60').send({ error: 'temporarily_unavailable', error_description: 'Try again later' })
  })

  app.post<{ Body: { payload?: unknown } }>('/apple/notifications', {
    schema: { body: { type: 'object', properties: { payload: { type: 'string', maxLength: 16_384 } }, required: ['payload'] } },
    attachValidation: true
  }, async (request, reply) => {
    const apple = app.appleGateway
    if (apple == null) return await reply.code(503).send({ error: 'temporarily_unavailable', error_description: 'Sign in with Apple is not configured' })
    if (request.validationError != null || typeof request.body?.payload !== 'string') {
      return await reply.code(400).send({ error: 'invalid_request', error_description: 'expected {"payload": "<JWS>"}' })
    }
    let verified
    try {
      verified = await apple.verifyNotification(request.body.payload)
    } catch (err) {
      if (err instanceof AppleRejectedError) {
        request.log.warn({ reason: err.message }, 'Apple notification refused')
        return await reply.code(400).send({ error: 'invalid_token', error_description: 'the payload is not a valid notification from Apple' })
      }
      if (err instanceof AppError) return await reply.code(503).send({ error: 'temporarily_unavailable', error_description: err.message })
      throw err
    }
    const { jti, event } = verified
    const key = `apple:${jti}`
    try {
      await app.prisma.receivedSecurityEvent.create({ data: { jti: key, eventTypes: [event.type] } })
    } catch (err) {
      if (isUniqueViolation(err)) return { received: true, duplicate: true }
      throw err
    }
    try {
      const outcome = await apply(event)
      return { received: true, outcome }
    } catch (err) {
      // Not applied: forget the jti so that Apple's retry is not taken for a duplicate.
      await app.prisma.receivedSecurityEvent.delete({ where: { jti: key } }).catch(() => {})
      throw err
    }
  })

  async function apply (event: { type: string, sub: string, eventTime: Date | null }): Promise<string> {
    const user = await app.prisma.user.findUnique({ where: { appleSub: event.sub }, select: { id: true, appleEmailEventAt: true } })
    if (user == null) return 'unknown_account'
    const reason = ENDING.get(event.type)
    let outcome: string
    if (reason != null) {
      // Conditional: a link made again since (another Apple account) is not undone.
      await app.prisma.user.updateMany({ where: { id: user.id, appleSub: event.sub }, data: { appleSub: null } })
      const ended = await app.sessionsService.revokeAll(user.id, reason)
      outcome = `unlinked, ${ended} sessions ended`
    } else if (event.type === 'email-disabled' || event.type === 'email-enabled') {
      const at = event.eventTime ?? app.clock.now()
      const { count } = await app.prisma.user.updateMany({
        where: { id: user.id, OR: [{ appleEmailEventAt: null }, { appleEmailEventAt: { lt: at } }] },
        data: { appleEmailDisabledAt: event.type === 'email-disabled' ? at : null, appleEmailEventAt: at }
      })
      outcome = count === 0 ? 'older_than_recorded' : event.type === 'email-disabled' ? 'forwarding_disabled' : 'forwarding_enabled'
    } else {
      outcome = 'ignored'
    }
    await app.auditLog.record('APPLE_NOTIFICATION', { userId: user.id, detail: { event: event.type, outcome, eventTime: event.eventTime?.toISOString() ?? null } })
    return outcome
  }
}

export default fp(async (app) => {
  await app.register(notificationRoutes)
}, { name: 'apple-notifications', dependencies: ['apple', 'prisma', 'sessions', 'audit-log'] })
