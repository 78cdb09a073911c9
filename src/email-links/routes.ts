import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, ErrorCodes, Reasons } from '../errors.ts'
import { clientErrorStatus } from '../http/error-handler.ts'
import { VERIFY_PATH } from '../email-verification/email-verification.ts'
import { RESET_PATH } from '../password-reset/password-reset.ts'

/**
 * The server's pages for the links in its mails (a browser opens them; a native app that handles these URLs takes
 * `token` from the link and calls verifyEmail / resetPassword itself instead):
 *
 *   GET  /email/verify?token=…           → a page with one button (a POST): mail scanners that fetch every link
 *   POST /email/verify                     must not confirm an address on the owner's behalf
 *                                        → "confirmed", with a link back to the app (APP_URL)
 *   GET  /email/reset-password?token=…   → a form for the new password
 *   POST /email/reset-password           → "password changed; signed out everywhere", link back to the app
 *
 * The token travels in the URL only to the GET (whose URL the request log redacts) and then in the form body.
 */

const FORM_LIMIT_BYTES = 4096

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem}</style>
</head><body>
<h1 id="title">${escapeHtml(title)}</h1>
${body}
</body></html>
`
}

const field = (value: unknown): string | undefined => typeof value === 'string' ? value : undefined

export default async function emailLinkRoutes (app: FastifyInstance): Promise<void> {
  const { APP_NAME, APP_URL } = app.config
  const backLink = `<p><a id="back" href="${escapeHtml(APP_URL)}">Continue to ${escapeHtml(APP_NAME)}</a></p>`

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // Anything else reaches the handlers as an empty form: they answer with their own page, not a 415 or a 500.
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_req, _body, done) => { done(null, {}) })

  const send = (reply: FastifyReply, status: number, title: string, body: string) => reply
    .code(status)
    .header('cache-control', 'no-store')
    // The URL holds a single-use token: never sent on as a Referer, never framed.
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    .type('text/html; charset=utf-8')
    .send(page(title, body))

  /** Our errors as a page; anything else (the database down) as a 503 page, never its message. */
  const failed = (reply: FastifyReply, request: FastifyRequest, err: unknown, title: string) => {
    if (err instanceof AppError && err.code !== ErrorCodes.INTERNAL && err.code !== ErrorCodes.DATABASE_UNAVAILABLE) {
      const status = err.code === ErrorCodes.RATE_LIMITED ? 429 : err.code === ErrorCodes.FORBIDDEN ? 403 : 400
      const again = err.reason === Reasons.EMAIL_TOKEN_EXPIRED || err.reason === Reasons.EMAIL_TOKEN_INVALID
        ? `<p>Ask ${escapeHtml(APP_NAME)} for a new mail.</p>${backLink}`
        : ''
      return send(reply, status, title, `<p id="message">${escapeHtml(err.message)}</p>${again}`)
    }
    request.log.error({ err }, 'email link page failed')
    return send(reply, 503, title, '<p id="message">Something went wrong on our side. Try the link again in a moment.</p>')
  }

  // Fastify's own refusals (a form over FORM_LIMIT_BYTES, a body without a content type) as a page too, not JSON.
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    if (clientErrorStatus(err) != null) return send(reply, clientErrorStatus(err)!, 'Request refused', '<p id="message">This request could not be read. Open the link from the mail again.</p>')
    return failed(reply, request, err, 'Something went wrong')
  })

  const missing = (reply: FastifyReply) => send(reply, 400, 'Link incomplete', '<p id="message">This link is incomplete: open it from the mail again, or copy all of it.</p>')

  const tokenOf = (request: FastifyRequest, where: 'query' | 'body') =>
    field(((where === 'query' ? request.query : request.body) as Record<string, unknown> | undefined)?.token)

  const confirmForm = (token: string) => `<p>Confirm this email address for your ${escapeHtml(APP_NAME)} account.</p>
<form method="post" action="${VERIFY_PATH}"><input type="hidden" name="token" value="${escapeHtml(token)}"><button id="confirm" type="submit">Confirm my email address</button></form>
<p>If you did not create an account, close this page.</p>`

  const resetForm = (token: string, message = '') => `${message === '' ? '' : `<p id="message">${escapeHtml(message)}</p>`}
<form method="post" action="${RESET_PATH}"><input type="hidden" name="token" value="${escapeHtml(token)}">
<p><label>New password <input id="password" type="password" name="password" autocomplete="new-password" required minlength="${app.config.PASSWORD_MIN_LENGTH}" maxlength="128"></label></p>
<button id="reset" type="submit">Set the new password</button></form>
<p>Setting it signs you out on every device.</p>`

  app.get(VERIFY_PATH, async (request, reply) => {
    const token = tokenOf(request, 'query')
    if (token == null || token === '') return missing(reply)
    return send(reply, 200, 'Confirm your email address', confirmForm(token))
  })

  app.post(VERIFY_PATH, async (request, reply) => {
    const token = tokenOf(request, 'body')
    if (token == null || token === '') return missing(reply)
    try {
      const user = await app.emailVerification.verify(token, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null })
      return send(reply, 200, 'Email address confirmed', `<p id="message">${escapeHtml(user.email)} is confirmed.</p>${backLink}`)
    } catch (err) {
      return failed(reply, request, err, 'Email address not confirmed')
    }
  })

  app.get(RESET_PATH, async (request, reply) => {
    const token = tokenOf(request, 'query')
    if (token == null || token === '') return missing(reply)
    return send(reply, 200, 'Choose a new password', resetForm(token))
  })

  app.post(RESET_PATH, async (request, reply) => {
    const body = request.body as Record<string, unknown> | undefined
    const token = field(body?.token)
    const password = field(body?.password)
    if (token == null || token === '') return missing(reply)
    if (password == null || password === '') return send(reply, 400, 'Choose a new password', resetForm(token, 'Enter a new password.'))
    try {
      await app.passwordReset.reset(token, password, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null })
      return send(reply, 200, 'Password changed', `<p id="message">Your password is changed, and you are signed out everywhere. Sign in with the new password.</p>${backLink}`)
    } catch (err) {
      // The password policy refused it: the token is not spent, so the same form can be sent again.
      if (err instanceof AppError && err.code === ErrorCodes.BAD_USER_INPUT && err.reason == null) {
        return send(reply, 400, 'Choose a new password', resetForm(token, err.message))
      }
      return failed(reply, request, err, 'Password not changed')
    }
  })
}
