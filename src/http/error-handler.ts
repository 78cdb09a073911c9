import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/**
 * The status of an error Fastify raised for the request itself (a body too large, an unsupported content type,
 * malformed JSON, a failed schema): a 4xx whose message names the problem and carries nothing of the request.
 * Null for everything else, which is ours to mask.
 */
export function clientErrorStatus (err: Partial<FastifyError>): number | null {
  const status = err.statusCode
  return typeof status === 'number' && status >= 400 && status < 500 ? status : null
}

/**
 * The error handler of the REST routes that have no format of their own (/health, /metrics, GraphiQL's assets,
 * and any route added later): Fastify's `{ statusCode, code, error, message }` for a client error, and for anything
 * else a 500 whose message is masked (Fastify's default handler sends the raw message: SQL, a library's text),
 * logged once here. Routes with their own format (/oauth/token, /google/risc, /auth/google*) set their own
 * handler in their scope; Mercurius sets one for /graphql.
 */
export function defaultErrorHandler (err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = clientErrorStatus(err)
  if (status != null) {
    request.log.info({ err }, err.message)
    return reply.code(status).send({ statusCode: status, code: err.code, error: STATUS_CODES[status], message: err.message })
  }
  request.log.error({ err }, 'unexpected error in request')
  return reply.code(500).send({ statusCode: 500, error: STATUS_CODES[500], message: 'Internal server error' })
}
