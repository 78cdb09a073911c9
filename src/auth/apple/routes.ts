import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppleRejectedError } from '../../apple/apple-gateway.ts'
import { sha256Hex } from '../../crypto/hashing.ts'
import { sameSecret } from '../../crypto/secrets.ts'
import { isRecordMissing } from '../../db/prisma-errors.ts'
import { AppError, AUTH_ERROR_MESSAGES, AuthErrorCodes, isError, Errors, HttpStatus } from '../../errors.ts'
import { clientErrorStatus } from '../../http/error-handler.ts'
import { setRefreshCookie } from '../../sessions/refresh-cookie.ts'
import { safeRedirectTarget } from '../google/redirect-destination.ts'

/*
 * Sign in with Apple for browsers:
 *
 *   GET  /auth/apple[?redirectTo=…]  → 302 to Apple's authorize page (response_mode=form_post, scope name email)
 *   POST /auth/apple/callback         ← Apple's form (state, code, user on the first time, or error) → session
 *                                       cookie, 303 to the allowlisted destination with signed_in=apple or auth_error
 *   GET  /auth/apple/done             → a page saying how it went (the default destination)
 *
 * `state` is 256 random bits, single use (the SHA-256 of it keys an oauth_states row with provider `apple`, deleted
 * on first use), short-lived, and bound to the browser by a cookie. Apple's answer is a cross-site POST, which
 * browsers send SameSite=Lax cookies with no more: the state cookie is SameSite=None (Secure, HttpOnly, __Host-),
 * and it is only a binding — the row decides. The `nonce` (kept in the row) is sent to Apple as its SHA-256 and
 * must come back in the ID token, which we take from Apple's token endpoint (authenticated with the ES256 client
 * secret), never from the form: a form field is only as trustworthy as whoever posted the form.
 */

export const APPLE_STATE_COOKIE = '__Host-inboxgate_apple_state'
const DONE = '/auth/apple/done'
const FORM_LIMIT_BYTES = 16 * 1024

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function resultPage (code: string | null): string {
  const title = code == null ? 'Signed in with Apple' : 'Sign in with Apple failed'
  const message = code == null ? 'You are signed in. You can close this window or go back to the app.' : AUTH_ERROR_MESSAGES.get(code) ?? 'The sign-in did not complete. Start again.'
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>
<h1 id="title">${title}</h1><p id="message">${escapeHtml(message)}</p>${code == null ? '' : `<p>Error code: <code id="code">${escapeHtml(code.slice(0, 64))}</code></p><p><a href="/auth/apple">Sign in with Apple again</a></p>`}
</body></html>\n`
}

/** The name in Apple's `user` form field (first authorization only): `{"name":{"firstName","lastName"},"email"}`. */
function nameFromUserField (user: unknown): string | null {
  if (typeof user !== 'string' || user.length > 2048) return null
  try {
    const parsed = JSON.parse(user) as { name?: { firstName?: unknown, lastName?: unknown } }
    const parts = [parsed.name?.firstName, parsed.name?.lastName].filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    return parts.length > 0 ? parts.join(' ') : null
  } catch {
    return null
  }
}

interface CallbackBody { state?: unknown, code?: unknown, user?: unknown, error?: unknown }

export default async function appleWebRoutes (app: FastifyInstance): Promise<void> {
  const config = app.config
  // Apple's callback is a form post; this parser is local to these routes.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))))
  })
  const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer')
  const page = (reply: FastifyReply, status: number, code: string | null) => noStore(reply).code(status).type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; frame-ancestors 'none'").send(resultPage(code))
  const meta = (request: FastifyRequest) => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? null })
  // A browser is on the other end: every failure of this scope is the result page, as for Google's flow (Fastify's
  // own refusals of a body too large or of another content type were JSON before: issue 21 item 7's fuzz).
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const status = clientErrorStatus(err)
    if (status != null) return page(reply, status, AuthErrorCodes.BAD_REQUEST)
    request.log.error({ err }, 'unexpected error in Sign in with Apple')
    return page(reply, 500, AuthErrorCodes.INTERNAL)
  })
  const back = (reply: FastifyReply, destination: string, params: Record<string, string>) => {
    const url = new URL(destination, config.PUBLIC_URL)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    const location = safeRedirectTarget(url.origin === new URL(config.PUBLIC_URL).origin ? `${url.pathname}${url.search}` : url.href, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (location == null) return page(reply, 400, AuthErrorCodes.REDIRECT_NOT_ALLOWED)
    return noStore(reply).redirect(location, 303)
  }

  app.get<{ Querystring: { redirectTo?: string } }>('/auth/apple', {
    schema: { querystring: { type: 'object', properties: { redirectTo: { type: 'string', maxLength: 2048 } }, additionalProperties: false } },
    attachValidation: true
  }, async (request, reply) => {
    if (request.validationError != null) return page(reply, 400, AuthErrorCodes.BAD_REQUEST)
    const apple = app.appleGateway
    if (apple?.webConfigured !== true) return page(reply, HttpStatus.APPLE_NOT_CONFIGURED, AuthErrorCodes.APPLE_NOT_CONFIGURED)
    const destination = safeRedirectTarget(request.query.redirectTo ?? DONE, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (destination == null) return page(reply, 400, AuthErrorCodes.REDIRECT_NOT_ALLOWED)
    let started
    try {
      started = await app.appleSignIn.startWeb(destination, meta(request))
    } catch (err) {
      if (isError(err, Errors.rateLimited)) return page(reply, HttpStatus.RATE_LIMITED, AuthErrorCodes.RATE_LIMITED)
      throw err
    }
    const { state, nonce } = started
    reply.setCookie(APPLE_STATE_COOKIE, state, { path: '/', httpOnly: true, secure: true, sameSite: 'none', maxAge: config.AUTH_STATE_TTL_SECONDS })
    return noStore(reply).redirect(apple.authorizationUrl({ state, nonce }), 302)
  })

  app.post<{ Body: CallbackBody }>('/auth/apple/callback', async (request, reply) => {
    reply.clearCookie(APPLE_STATE_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'none' })
    const apple = app.appleGateway
    if (apple?.webConfigured !== true) return page(reply, HttpStatus.APPLE_NOT_CONFIGURED, AuthErrorCodes.APPLE_NOT_CONFIGURED)
    const body: CallbackBody = typeof request.body === 'object' && request.body !== null ? request.body : {}
    const state = typeof body.state === 'string' ? body.state : ''
    if (state === '') return page(reply, 400, AuthErrorCodes.STATE_MISSING)
    // Bound to this browser: a form posted from elsewhere (login CSRF) carries another state.
    if (!sameSecret(state, request.cookies[APPLE_STATE_COOKIE])) return page(reply, 400, AuthErrorCodes.STATE_MISMATCH)
    let pending
    try {
      // Single use: the first request deletes the row; a replay finds nothing. A Google state is not an Apple one.
      pending = await app.prisma.oAuthState.delete({ where: { id: sha256Hex(state), provider: 'apple' } })
    } catch (err) {
      if (isRecordMissing(err)) return page(reply, 400, AuthErrorCodes.STATE_INVALID)
      throw err
    }
    if (pending.expiresAt.getTime() <= app.clock.now().getTime()) return page(reply, 400, AuthErrorCodes.STATE_EXPIRED)
    if (safeRedirectTarget(pending.redirectTo, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS) == null) return page(reply, 400, AuthErrorCodes.REDIRECT_NOT_ALLOWED)
    const to = (params: Record<string, string>) => back(reply, pending.redirectTo, params)

    if (typeof body.error === 'string') return to({ auth_error: body.error === 'user_cancelled_authorize' ? AuthErrorCodes.ACCESS_DENIED : AuthErrorCodes.APPLE_ERROR })
    if (typeof body.code !== 'string' || body.code === '' || body.code.length > 512) return to({ auth_error: AuthErrorCodes.APPLE_ERROR })
    try {
      const issued = await app.appleSignIn.completeWeb(body.code, pending.nonce, nameFromUserField(body.user), meta(request))
      setRefreshCookie(reply, config, issued.refreshToken, issued.session.expiresAt)
      return to({ signed_in: 'apple' })
    } catch (err) {
      if (err instanceof AppleRejectedError) return to({ auth_error: AuthErrorCodes.APPLE_REJECTED })
      if (err instanceof AppError) return to({ auth_error: err.reason ?? err.code })
      request.log.error({ err }, 'Apple sign-in callback failed')
      return to({ auth_error: AuthErrorCodes.INTERNAL })
    }
  })

  app.get<{ Querystring: { auth_error?: string } }>(DONE, async (request, reply) => page(reply, 200, typeof request.query.auth_error === 'string' ? request.query.auth_error : null))
}
