import type { FastifyError, FastifyInstance } from 'fastify'
import { clientErrorStatus } from '../../http/error-handler.ts'
import { RiscKeysUnavailableError } from './risc-keys.ts'
import { RiscRejection } from './risc-verifier.ts'

// A SET is a few hundred bytes; anything near this is not one.
const MAX_SET_BYTES = 16 * 1024

/**
 * `POST /google/risc`: push delivery (RFC 8935) of Google's Security Event Tokens. 202 once accepted (also for
 * subjects we do not know, and for a `jti` already applied); 400 with RFC 8935's `{err, description}` for a token
 * that must not take effect; 503 when Google's keys cannot be fetched or our state cannot be changed, so that
 * Google delivers again.
 */
export default async function riscRoutes (app: FastifyInstance): Promise<void> {
  // Encapsulated: this route alone reads raw bodies, whatever the content type, and checks it itself.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_SET_BYTES }, (_req, body, done) => { done(null, body) })

  // Every failure of this scope in RFC 8935's `{err, description}`: a rejected token is a 400, Fastify's own refusals
  // (a body over the limit) keep their 4xx, and anything else is a 503 so that Google delivers again.
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    if (err instanceof RiscRejection) {
      app.metrics.riscEvent('rejected', err.err)
      request.log.warn({ err: err.err, description: err.message }, 'Google RISC event rejected')
      return await reply.code(400).send({ err: err.err, description: err.message })
    }
    const status = clientErrorStatus(err)
    if (status != null) {
      request.log.warn({ err: 'invalid_request', description: err.message }, 'Google RISC event rejected')
      return await reply.code(status).send({ err: 'invalid_request', description: err.message })
    }
    if (err instanceof RiscKeysUnavailableError) {
      request.log.warn({ description: err.message }, 'Google RISC keys unavailable')
    } else {
      // Our state could not be changed (the database, the vault): the event is not recorded, Google retries.
      request.log.error({ err }, 'Google RISC event could not be applied')
    }
    return await reply.code(503).header('retry-after', '60').send({ err: 'temporarily_unavailable', description: 'Try again later' })
  })

  // Google pushes server to server: no CORS (issue 21 item 7); the preflight gets no CORS headers either.
  app.options('/google/risc', { config: { cors: false } }, async (_request, reply) =>
    await reply.code(405).header('allow', 'POST').send({ err: 'invalid_request', description: 'Only POST; this endpoint does no CORS' }))
  app.post('/google/risc', { config: { cors: false } }, async (request, reply) => {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    const body = typeof request.body === 'string' ? request.body.trim() : ''
    if (contentType !== 'application/secevent+jwt') throw new RiscRejection('invalid_request', 'The content type must be application/secevent+jwt')
    const set = await app.riscVerifier.verify(body)
    const delivery = await app.riscEventHandler.handle(set)
    request.log.info({ jti: set.jti, delivery, events: Object.keys(set.events).map((t) => t.slice(0, 200)) }, 'Google RISC event')
    return await reply.code(202).send()
  })
}
