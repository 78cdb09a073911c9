import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AuthErrorCodes } from '../../errors.ts'
import { clientErrorStatus } from '../../http/error-handler.ts'
import { setRefreshCookie } from '../../sessions/refresh-cookie.ts'
import { resultPage } from './pages.ts'
import { safeRedirectTarget } from './redirect-destination.ts'
import { CONNECT_GMAIL, DEFAULT_DESTINATION } from './web-flow.ts'
import type { BackOutcome } from './web-flow.ts'

/**
 * The browser's side of Sign in with Google (the flow itself is GoogleWebFlow, web-flow.ts):
 *
 *   GET /auth/google[?redirectTo=…][&gmail=1] → 302 to Google's consent page
 *   GET /auth/google?intent=connect_gmail[&redirectTo=…]
 *                                             → signed in (refresh cookie): 302 to Google for gmail.readonly;
 *                                               not signed in: 303 back with gmail_error
 *   GET /auth/google/callback?code&state      → session cookie, 303 to the allowlisted destination (connect_gmail:
 *                                               no cookie, `gmail=connected` or `gmail_error=CODE`)
 *   GET /auth/google/done[?auth_error=…]      → a page saying how it went
 */

/** SameSite=Lax, not Strict: Google's redirect back to us is a cross-site top-level navigation. */
export const STATE_COOKIE = '__Host-inboxgate_oauth_state'

export { DEFAULT_DESTINATION }

interface StartQuery { redirectTo?: string, gmail?: string, intent?: typeof CONNECT_GMAIL }
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

  const page = (reply: FastifyReply, status: number, code: string | null, about: 'sign_in' | 'gmail' = 'sign_in', detail?: string) =>
    noStore(reply).code(status).type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'").send(resultPage(code, about, detail))

  const meta = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? null })
  // Read directly, not through readRefreshCookie: these are top-level GET navigations, which carry no Origin, JSON
  // body or custom header. They hand out nothing; the state cookie and PKCE bind what they start to this browser.
  const refreshCookie = (request: FastifyRequest) => request.cookies[config.REFRESH_COOKIE_NAME]

  // A browser is on the other end: every failure of this scope is the result page (HTML), never JSON. Google's
  // and the vault's failures are outcomes of the flow already; what reaches here is unexpected, or Fastify's.
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const status = clientErrorStatus(err)
    if (status != null) return page(reply, status, AuthErrorCodes.BAD_REQUEST)
    request.log.error({ err }, 'unexpected error in Google sign-in')
    return page(reply, 500, AuthErrorCodes.INTERNAL)
  })

  const sendBack = (reply: FastifyReply, outcome: BackOutcome) => {
    // The final Location, with our parameters added, passes the same check as redirectTo did at the start.
    const location = safeRedirectTarget(withParams(outcome.back, config.PUBLIC_URL, outcome.params), config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (location == null) return page(reply, 400, AuthErrorCodes.REDIRECT_NOT_ALLOWED)
    if (outcome.issued != null) setRefreshCookie(reply, config, outcome.issued.refreshToken, outcome.issued.session.expiresAt)
    return noStore(reply).redirect(location, 303)
  }

  app.get<{ Querystring: StartQuery }>('/auth/google', {
    schema: {
      querystring: {
        type: 'object',
        properties: {
          redirectTo: { type: 'string', maxLength: 2048 },
          gmail: { type: 'string', enum: ['0', '1', 'true', 'false'] },
          intent: { type: 'string', enum: [CONNECT_GMAIL] }
        },
        additionalProperties: false
      }
    },
    // A bad query string is a page too, not a JSON error: a person is looking at it.
    attachValidation: true
  }, async (request, reply) => {
    if (request.validationError != null) return page(reply, 400, AuthErrorCodes.BAD_REQUEST)
    const gmail = request.query.gmail === '1' || request.query.gmail === 'true'
    const { redirectTo, intent } = request.query
    const outcome = await app.googleWebFlow.start({ redirectTo, gmail, ip: request.ip, intent, refreshToken: refreshCookie(request), userAgent: meta(request).userAgent },
      (err) => request.log.error({ err }, 'could not start Google sign-in'))
    if ('page' in outcome) return page(reply, outcome.page, outcome.code)
    if ('back' in outcome) return sendBack(reply, outcome)
    reply.setCookie(STATE_COOKIE, outcome.state, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: config.AUTH_STATE_TTL_SECONDS })
    return noStore(reply).redirect(outcome.redirect, 302)
  })

  app.get<{ Querystring: CallbackQuery }>('/auth/google/callback', async (request, reply) => {
    // Whatever happens next, the state cookie has done its job.
    reply.clearCookie(STATE_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' })
    const { state, code, error } = request.query
    const outcome = await app.googleWebFlow.callback(
      { state, code, error, cookieState: request.cookies[STATE_COOKIE], refreshToken: refreshCookie(request) },
      meta(request),
      (err, what) => request.log.error({ err }, what)
    )
    if ('page' in outcome) {
      // The usual cause of a missing state cookie in development: the sign-in was started at another address
      // (localhost vs 127.0.0.1 are two origins to a browser) than GOOGLE_REDIRECT_URI's, where Google comes back.
      const detail = outcome.code === AuthErrorCodes.STATE_MISMATCH && request.cookies[STATE_COOKIE] == null
        ? `No sign-in cookie came back to ${request.hostname}: a sign-in started at another address (another host name, such as localhost instead of 127.0.0.1) keeps its cookie there. Start again at ${config.PUBLIC_URL}/auth/google.`
        : undefined
      return page(reply, outcome.page, outcome.code, 'sign_in', detail)
    }
    return sendBack(reply, outcome)
  })

  app.get<{ Querystring: { auth_error?: string, signed_in?: string, gmail?: string, gmail_error?: string } }>(DEFAULT_DESTINATION, async (request, reply) => {
    const { auth_error: authError, signed_in: signedIn, gmail, gmail_error: gmailError } = request.query
    // A connect_gmail flow comes back without `signed_in`: its page speaks of Gmail, not of signing in.
    if (typeof authError !== 'string' && signedIn == null && (gmail === 'connected' || typeof gmailError === 'string')) {
      return page(reply, 200, typeof gmailError === 'string' ? gmailError : null, 'gmail')
    }
    return page(reply, 200, typeof authError === 'string' ? authError : null)
  })
}

// Its routes in a scope of their own, so that their error handler is theirs alone.
export default fp(async (app) => { await app.register(googleRoutes) }, { name: 'google-redirect', dependencies: ['google-web-flow'] })
