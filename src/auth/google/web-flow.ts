import fp from 'fastify-plugin'
import type { StepUp } from '../../accounts/step-up.ts'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import { sha256Hex } from '../../crypto/hashing.ts'
import { randomToken, sameSecret } from '../../crypto/secrets.ts'
import { isRecordMissing } from '../../db/prisma-errors.ts'
import { AppError, AuthErrorCodes, ErrorCodes, Errors, HttpStatus, isError, Reasons } from '../../errors.ts'
import type { AuthErrorCode, ErrorCode, Reason } from '../../errors.ts'
import type { OAuthState, PrismaClient } from '../../generated/prisma/client.ts'
import type { GoogleGateway } from '../../google/google-gateway.ts'
import { configuredGoogle, GoogleInvalidGrantError, GoogleRejectedError } from '../../google/google-gateway.ts'
import type { GmailConnections } from '../../gmail/gmail-connections.ts'
import type { RateLimits } from '../../rate-limits/rate-limits.ts'
import { requireLiveSession } from '../../sessions/live-session.ts'
import type { IssuedTokens, RequestMeta, SessionsService } from '../../sessions/sessions-service.ts'
import { safeRedirectTarget } from './redirect-destination.ts'
import type { GoogleSignIn } from './sign-in.ts'

/**
 * Sign in with Google for browsers (authorization code flow, RFC 9700 / OAuth 2.0 Security BCP), as a service:
 * the only code that reads or writes `OAuthState`. routes.ts maps its outcomes to pages, cookies and redirects.
 *
 * `state` is 256 random bits, single use (its hash is a row deleted on first use), short-lived
 * (AUTH_STATE_TTL_SECONDS) and bound to the browser that started the flow by an HttpOnly cookie holding the same
 * value; the row also holds the PKCE verifier (S256) and the ID token `nonce`. A failure before the state is
 * verified ends on an error page (the destination is not trusted yet); after, on a redirect to the destination
 * with `auth_error=CODE`. Nothing is created before Google's answer is fully verified.
 *
 * Intent `connect_gmail`: a browser already signed in (its refresh cookie, judged as a WEB refresh judges it)
 * connects Gmail to that user. The state row is bound to the user and the session (refresh-token family) that
 * started it; the callback checks that binding again before spending Google's code, connects through the
 * connect path (GmailConnections.connectExchanged, under the grant lock) and reports `gmail=connected` or
 * `gmail_error=CODE`. It never signs in, creates a user or issues a session.
 */

/** Where the browser goes when `redirectTo` is not given: a page of this server saying how it went. */
export const DEFAULT_DESTINATION = '/auth/google/done'

/** The flow ends on a page of ours (status, `auth_error` code or null for success). */
export interface PageOutcome { page: number, code: AuthErrorCode | ErrorCode | Reason }
/** The flow went to Google: send the browser there, with the state in its cookie. */
export interface ToGoogle { redirect: string, state: string }
/** The state was verified: back to the destination with these query parameters, and a session when signed in. */
export interface BackOutcome { back: string, params: Record<string, string>, issued?: IssuedTokens }

export const CONNECT_GMAIL = 'connect_gmail'

export interface StartInput {
  redirectTo?: string | undefined
  gmail: boolean
  ip: string
  intent?: typeof CONNECT_GMAIL | undefined
  /** The browser's refresh cookie, for `connect_gmail`. */
  refreshToken?: string | undefined
  userAgent?: string | null
}
export interface CallbackInput {
  state?: string | undefined
  cookieState?: string | undefined
  code?: string | undefined
  error?: string | undefined
  /** The browser's refresh cookie when it came along (see #boundSessionError). */
  refreshToken?: string | undefined
}

type GmailErrorCode = AuthErrorCode | ErrorCode | typeof Reasons.SCOPE_TOO_BROAD

/** The outcome of the callback after the state was verified, as `auth_error` codes for the destination. */
function authErrorCode (err: unknown): AuthErrorCode | ErrorCode | Reason {
  if (err instanceof GoogleInvalidGrantError || err instanceof GoogleRejectedError) return AuthErrorCodes.GOOGLE_REJECTED
  if (err instanceof AppError) return err.reason ?? err.code
  return AuthErrorCodes.INTERNAL
}

/**
 * The `gmail_error` of a failed connect: the catalogue's codes, as the sign-in flow's Gmail opt-in reports them;
 * SCOPE_TOO_BROAD by its reason (FORBIDDEN alone would not tell the person what to do).
 */
function gmailErrorCode (err: unknown): GmailErrorCode {
  if (err instanceof GoogleInvalidGrantError || err instanceof GoogleRejectedError) return AuthErrorCodes.GOOGLE_REJECTED
  if (err instanceof AppError && err.reason === Reasons.SCOPE_TOO_BROAD) return err.reason
  return err instanceof AppError ? err.code : ErrorCodes.INTERNAL
}

/** What Google's `error` parameter means to the user. */
const googleErrorCode = (error: string) => error === 'access_denied' ? AuthErrorCodes.ACCESS_DENIED : AuthErrorCodes.GOOGLE_ERROR

export class GoogleWebFlow {
  readonly #prisma: PrismaClient
  readonly #google: GoogleGateway | null
  readonly #signIn: GoogleSignIn
  readonly #gmail: GmailConnections
  readonly #sessions: SessionsService
  readonly #limits: RateLimits
  readonly #stepUp: StepUp
  readonly #clock: Clock
  readonly #config: Config

  constructor (deps: { prisma: PrismaClient, google: GoogleGateway | null, googleSignIn: GoogleSignIn, gmail: GmailConnections, sessions: SessionsService, rateLimits: RateLimits, stepUp: StepUp, clock: Clock, config: Config }) {
    this.#prisma = deps.prisma
    this.#google = deps.google
    this.#signIn = deps.googleSignIn
    this.#gmail = deps.gmail
    this.#sessions = deps.sessions
    this.#limits = deps.rateLimits
    this.#stepUp = deps.stepUp
    this.#clock = deps.clock
    this.#config = deps.config
  }

  /** `onUnexpected` hears errors that are not ours (the route logs them; they never reach the page). */
  async start (input: StartInput, onUnexpected: (err: unknown) => void): Promise<PageOutcome | ToGoogle | BackOutcome> {
    const google = this.#google
    const config = this.#config
    if (google == null) return { page: HttpStatus.GOOGLE_NOT_CONFIGURED, code: AuthErrorCodes.GOOGLE_NOT_CONFIGURED }
    const destination = safeRedirectTarget(input.redirectTo ?? DEFAULT_DESTINATION, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (destination == null) return { page: 400, code: AuthErrorCodes.REDIRECT_NOT_ALLOWED }
    const connect = input.intent === CONNECT_GMAIL
    try {
      // Each start writes a row: bounded per client IP like logins, and expired rows are swept here.
      await this.#limits.consume('googleStartPerIp', { ip: input.ip })
      // Who is connecting, before anything is stored or Google is asked: not signed in goes straight back.
      const bound = connect ? await this.#signedInSession(input.refreshToken, { ip: input.ip, userAgent: input.userAgent ?? null }) : null
      await this.#limits.consume('googleOpsPerIp', { ip: input.ip })
      if (bound != null) await this.#limits.consume('googleOpsPerAccount', { account: bound.userId })
      const now = this.#clock.now()
      await this.#prisma.oAuthState.deleteMany({ where: { expiresAt: { lt: now } } })
      const state = randomToken()
      const nonce = randomToken()
      const { codeVerifier, codeChallenge } = await google.pkce()
      await this.#prisma.oAuthState.create({
        data: {
          id: sha256Hex(state),
          codeVerifier,
          nonce,
          redirectTo: destination,
          gmail: input.gmail || connect,
          ...(bound != null ? { intent: 'CONNECT_GMAIL', userId: bound.userId, sessionId: bound.sessionId } : {}),
          expiresAt: new Date(now.getTime() + config.AUTH_STATE_TTL_SECONDS * 1000)
        }
      })
      const redirect = google.authorizationUrl({ redirectUri: config.GOOGLE_REDIRECT_URI, state, codeChallenge, nonce, gmail: input.gmail || connect, connectOnly: connect })
      return { redirect, state }
    } catch (err) {
      if (!(err instanceof AppError)) onUnexpected(err)
      // The destination was judged above: a connect reports back to the app, which knows who is signed in.
      if (connect) return { back: destination, params: { gmail_error: gmailErrorCode(err) } }
      return { page: isError(err, Errors.rateLimited) ? HttpStatus.RATE_LIMITED : 503, code: authErrorCode(err) }
    }
  }

  /**
   * The session the browser's refresh cookie belongs to, judged as a WEB refresh judges it (SessionsService.inspect)
   * but not rotated: nothing is handed out here, and a new cookie riding on a redirect to Google would race the
   * page's own refreshes in other tabs.
   */
  async #signedInSession (refreshToken: string | undefined, meta: RequestMeta): Promise<{ userId: string, sessionId: string }> {
    if (refreshToken == null || refreshToken === '') throw Errors.refreshTokenMissing()
    const { user, session } = await this.#sessions.inspect(refreshToken, 'WEB', meta)
    return { userId: user.id, sessionId: session.id }
  }

  /**
   * Null when the flow's user may still connect: the session that started it is live, and the refresh cookie, when
   * the browser sent it, is that session's. With SameSite=Strict (the default) the browser does not send the
   * refresh cookie on Google's cross-site redirect back: the browser binding is then the state cookie (only the
   * browser that started this user's flow has it), and the session is checked from the row. When the cookie does
   * come (SameSite=Lax, or Google on the same site as in dev), another user's or another session's cookie fails.
   */
  async #boundSessionError (pending: OAuthState, refreshToken: string | undefined, meta: RequestMeta): Promise<GmailErrorCode | null> {
    if (pending.userId == null || pending.sessionId == null) return ErrorCodes.INTERNAL
    try {
      if (refreshToken != null && refreshToken !== '') {
        const here = await this.#signedInSession(refreshToken, meta)
        return here.userId === pending.userId && here.sessionId === pending.sessionId ? null : AuthErrorCodes.SESSION_MISMATCH
      }
      await requireLiveSession({ prisma: this.#prisma, clock: this.#clock, config: this.#config }, { sid: pending.sessionId, sub: pending.userId })
      return null
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      return err.code
    }
  }

  /**
   * Replacing the held Gmail grant with another Google account's needs a recent sign-in (issue 21 item 4), judged
   * by the StepUp rule on the session that started the flow. A browser has no password field here: an older
   * sign-in gets `gmail_error=REAUTH_REQUIRED` (sign in again, or connect with the password through connectGmail).
   */
  async #recentSignIn (pending: OAuthState, meta: RequestMeta): Promise<void> {
    const session = await this.#prisma.session.findUnique({ where: { id: pending.sessionId! }, select: { authTime: true } })
    const authTime = session == null ? 0 : Math.floor(session.authTime.getTime() / 1000)
    await this.#stepUp.require({ sub: pending.userId!, sid: pending.sessionId!, auth_time: authTime }, null, 'connectGmail', meta)
  }

  /** The callback of a `connect_gmail` flow, its state verified: connects Gmail to the bound user, never signs in. */
  async #connectCallback (google: GoogleGateway, pending: OAuthState, input: CallbackInput, meta: RequestMeta, onUnexpected: (err: unknown, what: string) => void): Promise<BackOutcome> {
    const back = (params: Record<string, string>): BackOutcome => ({ back: pending.redirectTo, params })
    try {
      // Before Google's code is spent: a code for a flow whose user logged out (or is another one now) is dropped.
      const bindingError = await this.#boundSessionError(pending, input.refreshToken, meta)
      if (bindingError != null) return back({ gmail_error: bindingError })
      if (typeof input.error === 'string') return back({ gmail_error: googleErrorCode(input.error) })
      if (typeof input.code !== 'string' || input.code === '') return back({ gmail_error: AuthErrorCodes.GOOGLE_ERROR })
      // PKCE binds the code to this flow. Identity and scopes come from Google's tokeninfo in the connect path,
      // as for every other way of connecting; the ID token is not needed for that.
      const tokens = await google.exchangeCode(input.code, { redirectUri: this.#config.GOOGLE_REDIRECT_URI, codeVerifier: pending.codeVerifier })
      const { warnings } = await this.#gmail.connectExchanged(pending.userId!, tokens, meta, async () => { await this.#recentSignIn(pending, meta) })
      const params: Record<string, string> = { gmail: 'connected' }
      if (warnings.length > 0) params.gmail_warning = warnings.map((w) => w.code).join(',')
      return back(params)
    } catch (err) {
      const code = gmailErrorCode(err)
      if (code === ErrorCodes.INTERNAL) onUnexpected(err, 'connecting Gmail (web) failed')
      return back({ gmail_error: code })
    }
  }

  /**
   * Google's redirect back. `onUnexpected` hears errors answered INTERNAL (the route logs them; they never reach
   * the page or the URL).
   */
  async callback (input: CallbackInput, meta: RequestMeta, onUnexpected: (err: unknown, what: string) => void): Promise<PageOutcome | BackOutcome> {
    const google = this.#google
    const config = this.#config
    if (google == null) return { page: HttpStatus.GOOGLE_NOT_CONFIGURED, code: AuthErrorCodes.GOOGLE_NOT_CONFIGURED }
    const { state, cookieState, code, error } = input
    if (typeof state !== 'string' || state === '') return { page: 400, code: AuthErrorCodes.STATE_MISSING }
    // Bound to this browser: a callback URL started elsewhere (login CSRF) carries another state.
    if (cookieState == null || !sameSecret(cookieState, state)) return { page: 400, code: AuthErrorCodes.STATE_MISMATCH }

    let pending
    try {
      // Single use: the first request deletes the row; a replay (or a parallel duplicate) finds nothing.
      pending = await this.#prisma.oAuthState.delete({ where: { id: sha256Hex(state) } })
    } catch (err) {
      if (isRecordMissing(err)) return { page: 400, code: AuthErrorCodes.STATE_INVALID }
      onUnexpected(err, 'Google sign-in callback: could not read the pending state')
      return { page: 503, code: AuthErrorCodes.INTERNAL }
    }
    if (pending.expiresAt.getTime() <= this.#clock.now().getTime()) return { page: 400, code: AuthErrorCodes.STATE_EXPIRED }
    // Judged again before Google's code is spent: a row stored by an older release (or anything else writing
    // OAuthState) must not send the browser off-site, whatever the outcome.
    if (safeRedirectTarget(pending.redirectTo, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS) == null) {
      return { page: 400, code: AuthErrorCodes.REDIRECT_NOT_ALLOWED }
    }

    if (pending.intent === 'CONNECT_GMAIL') return await this.#connectCallback(google, pending, input, meta, onUnexpected)

    const back = (params: Record<string, string>, issued?: IssuedTokens): BackOutcome =>
      issued == null ? { back: pending.redirectTo, params } : { back: pending.redirectTo, params, issued }

    if (typeof error === 'string') return back({ auth_error: googleErrorCode(error) })
    if (typeof code !== 'string' || code === '') return back({ auth_error: AuthErrorCodes.GOOGLE_ERROR })

    try {
      const tokens = await google.exchangeCode(code, { redirectUri: config.GOOGLE_REDIRECT_URI, codeVerifier: pending.codeVerifier })
      if (tokens.idToken == null) return back({ auth_error: AuthErrorCodes.GOOGLE_ERROR })
      let identity
      try {
        // Only our web client's audience here, and the nonce this browser's flow was started with.
        identity = await google.verifyIdToken(tokens.idToken, [google.config.clientId], pending.nonce)
      } catch (err) {
        if (err instanceof GoogleRejectedError) return back({ auth_error: AuthErrorCodes.GOOGLE_ID_TOKEN_INVALID })
        throw err
      }
      const user = await this.#signIn.findOrCreate(identity, meta)

      const params: Record<string, string> = { signed_in: 'google' }
      if (pending.gmail) {
        // The sign-in stands whatever happens to Gmail: its outcome is reported next to it.
        try {
          // This sign-in with Google is the recent authentication a switch of mailbox asks for.
          const { warnings } = await this.#gmail.connectExchanged(user.id, tokens, meta, async () => {})
          params.gmail = 'connected'
          if (warnings.length > 0) params.gmail_warning = warnings.map((w) => w.code).join(',')
        } catch (err) {
          if (!(err instanceof AppError)) onUnexpected(err, 'Google sign-in: could not connect Gmail')
          params.gmail_error = err instanceof AppError ? gmailErrorCode(err) : ErrorCodes.INTERNAL
        }
      }
      return back(params, await this.#signIn.startSession(user, 'WEB', meta))
    } catch (err) {
      const codeOut = authErrorCode(err)
      if (codeOut === AuthErrorCodes.INTERNAL) onUnexpected(err, 'Google sign-in callback failed')
      return back({ auth_error: codeOut })
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    googleWebFlow: GoogleWebFlow
  }
}

export default fp(async (app) => {
  app.decorate('googleWebFlow', new GoogleWebFlow({
    prisma: app.prisma,
    google: configuredGoogle(app),
    googleSignIn: app.googleSignIn,
    gmail: app.gmailConnections,
    sessions: app.sessionsService,
    rateLimits: app.rateLimits,
    stepUp: app.stepUp,
    clock: app.clock,
    config: app.config
  }))
}, { name: 'google-web-flow', dependencies: ['prisma', 'google', 'google-sign-in', 'gmail', 'sessions', 'rate-limits', 'accounts'] })
