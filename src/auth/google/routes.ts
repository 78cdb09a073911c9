import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AuthErrorCodes } from '../../errors.ts'
import { setRefreshCookie } from '../../sessions/refresh-cookie.ts'
import { resultPage } from './pages.ts'
import { safeRedirectTarget } from './redirect-destination.ts'
import { DEFAULT_DESTINATION } from './web-flow.ts'

/**
 * The browser's side of Sign in with Google (the flow itself is GoogleWebFlow, web-flow.ts):
 *
 *   GET /auth/google[?redirectTo=…][&gmail=1] → 302 to Google's consent page
 *   GET /auth/google/callback?code&state      → session cookie, 303 to the allowlisted destination
 *   GET /auth/google/done[?auth_error=…]      → a page saying how it went
 */

/** SameSite=Lax, not Strict: Google's redirect back to us is a cross-site top-level navigation. */
export const STATE_COOKIE = '__Host-inboxgate_oauth_state'

export { DEFAULT_DESTINATION }

interface StartQuery { redirectTo?: string, gmail?: string }
interface CallbackQuery { code?: string, state?: string, error?: string }

function withParams (target: string, base: string, params: Record<string, string>): string {
  const url = new URL(target, base)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  return url.origin === base ? `${url.pathname}${url.search}${url.hash}` : url.href
}

async function googleRoutes (app: FastifyInstance): Promise<void> {
  const config = app.config
  const noStore = (reply: FastifyReply) => reply
    .header('cache-control', 'no-store')
    // The callback URL carries the authorization code: never send it on as a Referer.
    .header('referrer-policy', 'no-referrer')

  const page = (reply: FastifyReply, status: number, code: string | null) =>
    noStore(reply).code(status).type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'").send(resultPage(code))

  const meta = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? null })

  app.get<{ Querystring: StartQuery }>('/auth/google', {
    schema: {
      querystring: {
        type: 'object',
        properties: { redirectTo: { type: 'string', maxLength: 2048 }, gmail: { type: 'string', enum: ['0', '1', 'true', 'false'] } },
        additionalProperties: false
      }
    },
    // A bad query string is a page too, not a JSON error: a person is looking at it.
    attachValidation: true
  }, async (request, reply) => {
    if (request.validationError != null) return page(reply, 400, AuthErrorCodes.BAD_REQUEST)
    const gmail = request.query.gmail === '1' || request.query.gmail === 'true'
    const outcome = await app.googleWebFlow.start({ redirectTo: request.query.redirectTo, gmail, ip: request.ip },
      (err) => request.log.error({ err }, 'could not start Google sign-in'))
    if ('page' in outcome) return page(reply, outcome.page, outcome.code)
    reply.setCookie(STATE_COOKIE, outcome.state, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: config.AUTH_STATE_TTL_SECONDS })
    return noStore(reply).redirect(outcome.redirect, 302)
  })

  app.get<{ Querystring: CallbackQuery }>('/auth/google/callback', async (request, reply) => {
    // Whatever happens next, the state cookie has done its job.
    reply.clearCookie(STATE_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' })
    const { state, code, error } = request.query
    const outcome = await app.googleWebFlow.callback(
      { state, code, error, cookieState: request.cookies[STATE_COOKIE] },
      meta(request),
      (err, what) => request.log.error({ err }, what)
    )
    if ('page' in outcome) return page(reply, outcome.page, outcome.code)
    // The final Location, with our parameters added, passes the same check as redirectTo did at the start.
    const location = safeRedirectTarget(withParams(outcome.back, config.PUBLIC_URL, outcome.params), config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (location == null) return page(reply, 400, AuthErrorCodes.REDIRECT_NOT_ALLOWED)
    if (outcome.issued != null) setRefreshCookie(reply, config, outcome.issued.refreshToken, outcome.issued.session.expiresAt)
    return noStore(reply).redirect(location, 303)
  })

  app.get<{ Querystring: { auth_error?: string } }>(DEFAULT_DESTINATION, async (request, reply) =>
    page(reply, 200, typeof request.query.auth_error === 'string' ? request.query.auth_error : null))
}

export default fp(googleRoutes, { name: 'google-redirect', dependencies: ['google-web-flow'] })
