import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, ErrorCodes } from '../../errors.ts'
import { Prisma } from '../../generated/prisma/client.ts'
import { GoogleInvalidGrantError, GoogleRejectedError } from '../../google/google-gateway.ts'
import { setRefreshCookie } from '../../sessions/refresh-cookie.ts'
import { resultPage, safeRedirectTarget } from './pages.ts'

/**
 * Sign in with Google for browsers (authorization code flow, RFC 9700 / OAuth 2.0 Security BCP):
 *
 *   GET /auth/google[?redirectTo=…][&gmail=1] → 302 to Google's consent page
 *   GET /auth/google/callback?code&state      → session cookie, 303 to the allowlisted destination
 *
 * `state` is 256 random bits, single use (its hash is a row deleted on first use), short-lived
 * (AUTH_STATE_TTL_SECONDS) and bound to the browser that started the flow by an HttpOnly cookie holding the same
 * value; the row also holds the PKCE verifier (S256) and the ID token `nonce`. A failure before the state is
 * verified ends on an error page here (the destination is not trusted yet); after, on a redirect to the
 * destination with `auth_error=CODE`. Nothing is created before Google's answer is fully verified.
 */

/** SameSite=Lax, not Strict: Google's redirect back to us is a cross-site top-level navigation. */
export const STATE_COOKIE = '__Host-inboxgate_oauth_state'

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex')

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Where the browser goes when `redirectTo` is not given: a page of this server saying how it went. */
export const DEFAULT_DESTINATION = '/auth/google/done'

interface StartQuery { redirectTo?: string, gmail?: string }
interface CallbackQuery { code?: string, state?: string, error?: string }

/** The outcome of the callback after the state was verified, as `auth_error` codes for the destination. */
function authErrorCode (err: unknown): string {
  if (err instanceof GoogleInvalidGrantError || err instanceof GoogleRejectedError) return 'GOOGLE_REJECTED'
  if (err instanceof AppError) {
    const reason = err.details.reason
    return typeof reason === 'string' ? reason : err.code
  }
  return ErrorCodes.INTERNAL
}

function withParams (target: string, base: string, params: Record<string, string>): string {
  const url = new URL(target, base)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  return url.origin === base ? `${url.pathname}${url.search}${url.hash}` : url.href
}

async function googleRedirect (app: FastifyInstance): Promise<void> {
  const config = app.config
  const noStore = (reply: FastifyReply) => reply
    .header('cache-control', 'no-store')
    // The callback URL carries the authorization code: never send it on as a Referer.
    .header('referrer-policy', 'no-referrer')

  const clearStateCookie = (reply: FastifyReply) =>
    reply.clearCookie(STATE_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' })

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
    if (request.validationError != null) return page(reply, 400, 'BAD_REQUEST')
    const google = app.google
    if (google == null) return page(reply, 503, ErrorCodes.GOOGLE_NOT_CONFIGURED)
    const destination = safeRedirectTarget(request.query.redirectTo ?? DEFAULT_DESTINATION, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (destination == null) return page(reply, 400, 'REDIRECT_NOT_ALLOWED')
    try {
      // Each start writes a row: bounded per client IP like logins, and expired rows are swept here.
      await app.loginThrottle.googleSignInAttempt(request.ip)
      const now = app.clock.now()
      await app.prisma.oAuthState.deleteMany({ where: { expiresAt: { lt: now } } })
      const state = randomBytes(32).toString('base64url')
      const nonce = randomBytes(32).toString('base64url')
      const { codeVerifier, codeChallenge } = await google.pkce()
      const gmail = request.query.gmail === '1' || request.query.gmail === 'true'
      await app.prisma.oAuthState.create({
        data: { id: sha256(state), codeVerifier, nonce, redirectTo: destination, gmail, expiresAt: new Date(now.getTime() + config.AUTH_STATE_TTL_SECONDS * 1000) }
      })
      reply.setCookie(STATE_COOKIE, state, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: config.AUTH_STATE_TTL_SECONDS })
      const url = google.authorizationUrl({ redirectUri: config.GOOGLE_REDIRECT_URI, state, codeChallenge, nonce, gmail })
      return noStore(reply).redirect(url, 302)
    } catch (err) {
      if (!(err instanceof AppError)) request.log.error({ err }, 'could not start Google sign-in')
      return page(reply, err instanceof AppError && err.code === ErrorCodes.RATE_LIMITED ? 429 : 503, authErrorCode(err))
    }
  })

  app.get<{ Querystring: CallbackQuery }>('/auth/google/callback', async (request, reply) => {
    // Whatever happens next, the state cookie has done its job.
    clearStateCookie(reply)
    const google = app.google
    if (google == null) return page(reply, 503, ErrorCodes.GOOGLE_NOT_CONFIGURED)
    const { state, code, error } = request.query
    if (typeof state !== 'string' || state === '') return page(reply, 400, 'STATE_MISSING')
    const cookie = request.cookies[STATE_COOKIE]
    // Bound to this browser: a callback URL started elsewhere (login CSRF) carries another state.
    if (cookie == null || !sameSecret(cookie, state)) return page(reply, 400, 'STATE_MISMATCH')

    let pending
    try {
      // Single use: the first request deletes the row; a replay (or a parallel duplicate) finds nothing.
      pending = await app.prisma.oAuthState.delete({ where: { id: sha256(state) } })
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') return page(reply, 400, 'STATE_INVALID')
      request.log.error({ err }, 'Google sign-in callback: could not read the pending state')
      return page(reply, 503, ErrorCodes.INTERNAL)
    }
    if (pending.expiresAt.getTime() <= app.clock.now().getTime()) return page(reply, 400, 'STATE_EXPIRED')

    const back = (params: Record<string, string>) =>
      noStore(reply).redirect(withParams(pending.redirectTo, config.PUBLIC_URL, params), 303)

    if (typeof error === 'string') return back({ auth_error: error === 'access_denied' ? 'ACCESS_DENIED' : 'GOOGLE_ERROR' })
    if (typeof code !== 'string' || code === '') return back({ auth_error: 'GOOGLE_ERROR' })

    try {
      const tokens = await google.exchangeCode(code, { redirectUri: config.GOOGLE_REDIRECT_URI, codeVerifier: pending.codeVerifier })
      if (tokens.idToken == null) return back({ auth_error: 'GOOGLE_ERROR' })
      let identity
      try {
        // Only our web client's audience here, and the nonce this browser's flow was started with.
        identity = await google.verifyIdToken(tokens.idToken, [google.config.clientId], pending.nonce)
      } catch (err) {
        if (err instanceof GoogleRejectedError) return back({ auth_error: 'GOOGLE_ID_TOKEN_INVALID' })
        throw err
      }
      const user = await app.googleSignIn.findOrCreate(identity, meta(request))

      const params: Record<string, string> = { signed_in: 'google' }
      if (pending.gmail) {
        // The sign-in stands whatever happens to Gmail: its outcome is reported next to it.
        try {
          const { warnings } = await app.gmail.connectExchanged(user.id, tokens, meta(request))
          params.gmail = 'connected'
          if (warnings.length > 0) params.gmail_warning = warnings.map((w) => w.code).join(',')
        } catch (err) {
          if (!(err instanceof AppError)) request.log.error({ err }, 'Google sign-in: could not connect Gmail')
          params.gmail_error = err instanceof AppError ? err.code : ErrorCodes.INTERNAL
        }
      }
      const issued = await app.googleSignIn.startSession(user, 'WEB', meta(request))
      setRefreshCookie(reply, config, issued.refreshToken, issued.session.expiresAt)
      return back(params)
    } catch (err) {
      const codeOut = authErrorCode(err)
      if (codeOut === ErrorCodes.INTERNAL) request.log.error({ err }, 'Google sign-in callback failed')
      return back({ auth_error: codeOut })
    }
  })

  app.get<{ Querystring: { auth_error?: string } }>(DEFAULT_DESTINATION, async (request, reply) =>
    page(reply, 200, typeof request.query.auth_error === 'string' ? request.query.auth_error : null))
}

export default fp(googleRedirect, {
  name: 'google-redirect',
  dependencies: ['prisma', 'google', 'google-sign-in', 'gmail', 'login-throttle']
})
