import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { OAuthError, OAuthErrorCodes, OAuthErrors } from '../errors.ts'
import { clientErrorStatus } from '../http/error-handler.ts'

/** The body parser's answer for anything but a well-formed form: refused as invalid_request by the handler. */
type Form = Map<string, string> | OAuthError

const FORM_LIMIT_BYTES = 16 * 1024

function parseForm (body: string): Form {
  const params = new Map<string, string>()
  for (const [key, value] of new URLSearchParams(body)) {
    // RFC 6749 §3.2: request parameters must not be included more than once.
    if (params.has(key)) return OAuthErrors.repeatedParameter()
    params.set(key, value)
  }
  return params
}

/** RFC 6749 §5.2 JSON; invalid_client also says how to authenticate (RFC 6749 §5.2, RFC 7235). */
async function sendError (reply: FastifyReply, err: OAuthError) {
  if (err.status === 401) reply.header('www-authenticate', 'Basic realm="inboxgate", charset="UTF-8"')
  if (err.retryAfterSeconds != null) reply.header('retry-after', String(err.retryAfterSeconds))
  return await reply.code(err.status).send({ error: err.error, error_description: err.message, ...err.extra })
}

/** POST /oauth/token: a thin route over TokenExchange (src/oauth/token-exchange.ts). */
export default async function oauthRoutes (app: FastifyInstance): Promise<void> {
  // This scope takes forms only: JSON or anything else reaches the handler as an invalid_request, not a 415.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_req, body, done) => {
    done(null, parseForm(body as string))
  })
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_req, _body, done) => done(null, OAuthErrors.notForm()))

  // Server-to-server only: no CORS, so no browser page may call it with a user's credentials (issue 21 item 7).
  // The explicit OPTIONS route takes the preflight from @fastify/cors's wildcard one and answers it without CORS.
  app.options('/oauth/token', { config: { cors: false } }, async (_request, reply) =>
    await reply.code(405).header('allow', 'POST').send({ error: 'invalid_request', error_description: 'Only POST; this endpoint does no CORS' }))
  // Every failure of this scope, the route's own or Fastify's before it (a body over the limit), in RFC 6749's JSON.
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const status = clientErrorStatus(err)
    const oauthError = err instanceof OAuthError
      ? err
      : status != null ? new OAuthError(OAuthErrorCodes.INVALID_REQUEST, status, err.message) : OAuthErrors.serverError(err)
    // The cause is one of our errors or a library's (never a token: they carry none); the form is never logged.
    if (oauthError.status >= 500) request.log.warn({ err: oauthError.cause ?? oauthError, error: oauthError.error }, 'token exchange failed')
    // Tokens are credentials: no cache may keep the answer, or an error that came with one (RFC 6749 §5.1).
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return await sendError(reply, oauthError)
  })

  app.post('/oauth/token', { config: { cors: false } }, async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const form = (request.body ?? OAuthErrors.notForm()) as Form
    if (form instanceof OAuthError) throw form
    return await reply.send(await app.tokenExchange.exchange({
      params: form,
      authorization: request.headers.authorization,
      verifySubjectToken: (token) => app.accessTokens.verifySubject(token),
      ip: request.ip,
      userAgent: request.headers['user-agent'] ?? null
    }))
  })
}
