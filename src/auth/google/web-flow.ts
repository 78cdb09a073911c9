import fp from 'fastify-plugin'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import { sha256Hex } from '../../crypto/hashing.ts'
import { randomToken, sameSecret } from '../../crypto/secrets.ts'
import { isRecordMissing } from '../../db/prisma-errors.ts'
import { AppError, AuthErrorCodes, ErrorCodes, Errors, HttpStatus, isError } from '../../errors.ts'
import type { AuthErrorCode, ErrorCode, Reason } from '../../errors.ts'
import type { PrismaClient } from '../../generated/prisma/client.ts'
import type { GoogleGateway } from '../../google/google-gateway.ts'
import type { GoogleOpsThrottle } from '../../google/google-ops-throttle.ts'
import { GoogleInvalidGrantError, GoogleRejectedError } from '../../google/google-gateway.ts'
import type { GmailConnections } from '../../gmail/gmail-connections.ts'
import type { IssuedTokens, RequestMeta } from '../../sessions/sessions-service.ts'
import type { LoginThrottle } from '../../users/login-throttle.ts'
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
 */

/** Where the browser goes when `redirectTo` is not given: a page of this server saying how it went. */
export const DEFAULT_DESTINATION = '/auth/google/done'

/** The flow ends on a page of ours (status, `auth_error` code or null for success). */
export interface PageOutcome { page: number, code: AuthErrorCode | ErrorCode | Reason }
/** The flow went to Google: send the browser there, with the state in its cookie. */
export interface ToGoogle { redirect: string, state: string }
/** The state was verified: back to the destination with these query parameters, and a session when signed in. */
export interface BackOutcome { back: string, params: Record<string, string>, issued?: IssuedTokens }

export interface StartInput { redirectTo?: string | undefined, gmail: boolean, ip: string }
export interface CallbackInput { state?: string | undefined, cookieState?: string | undefined, code?: string | undefined, error?: string | undefined }

/** The outcome of the callback after the state was verified, as `auth_error` codes for the destination. */
function authErrorCode (err: unknown): AuthErrorCode | ErrorCode | Reason {
  if (err instanceof GoogleInvalidGrantError || err instanceof GoogleRejectedError) return AuthErrorCodes.GOOGLE_REJECTED
  if (err instanceof AppError) return err.reason ?? err.code
  return AuthErrorCodes.INTERNAL
}

export class GoogleWebFlow {
  readonly #prisma: PrismaClient
  readonly #google: GoogleGateway | null
  readonly #signIn: GoogleSignIn
  readonly #gmail: GmailConnections
  readonly #throttle: LoginThrottle
  readonly #googleOps: GoogleOpsThrottle
  readonly #clock: Clock
  readonly #config: Config

  constructor (deps: { prisma: PrismaClient, google: GoogleGateway | null, googleSignIn: GoogleSignIn, gmail: GmailConnections, loginThrottle: LoginThrottle, googleOps: GoogleOpsThrottle, clock: Clock, config: Config }) {
    this.#prisma = deps.prisma
    this.#google = deps.google
    this.#signIn = deps.googleSignIn
    this.#gmail = deps.gmail
    this.#throttle = deps.loginThrottle
    this.#googleOps = deps.googleOps
    this.#clock = deps.clock
    this.#config = deps.config
  }

  /** `onUnexpected` hears errors that are not ours (the route logs them; they never reach the page). */
  async start (input: StartInput, onUnexpected: (err: unknown) => void): Promise<PageOutcome | ToGoogle> {
    const google = this.#google
    const config = this.#config
    if (google == null) return { page: HttpStatus.GOOGLE_NOT_CONFIGURED, code: AuthErrorCodes.GOOGLE_NOT_CONFIGURED }
    const destination = safeRedirectTarget(input.redirectTo ?? DEFAULT_DESTINATION, config.PUBLIC_URL, config.AUTH_REDIRECT_ORIGINS)
    if (destination == null) return { page: 400, code: AuthErrorCodes.REDIRECT_NOT_ALLOWED }
    try {
      // Each start writes a row: bounded per client IP like logins, and expired rows are swept here.
      await this.#throttle.googleSignInAttempt(input.ip)
      await this.#googleOps.attempt({ ip: input.ip })
      const now = this.#clock.now()
      await this.#prisma.oAuthState.deleteMany({ where: { expiresAt: { lt: now } } })
      const state = randomToken()
      const nonce = randomToken()
      const { codeVerifier, codeChallenge } = await google.pkce()
      await this.#prisma.oAuthState.create({
        data: { id: sha256Hex(state), codeVerifier, nonce, redirectTo: destination, gmail: input.gmail, expiresAt: new Date(now.getTime() + config.AUTH_STATE_TTL_SECONDS * 1000) }
      })
      const redirect = google.authorizationUrl({ redirectUri: config.GOOGLE_REDIRECT_URI, state, codeChallenge, nonce, gmail: input.gmail })
      return { redirect, state }
    } catch (err) {
      if (!(err instanceof AppError)) onUnexpected(err)
      return { page: isError(err, Errors.rateLimited) ? HttpStatus.RATE_LIMITED : 503, code: authErrorCode(err) }
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

    const back = (params: Record<string, string>, issued?: IssuedTokens): BackOutcome =>
      issued == null ? { back: pending.redirectTo, params } : { back: pending.redirectTo, params, issued }

    if (typeof error === 'string') return back({ auth_error: error === 'access_denied' ? AuthErrorCodes.ACCESS_DENIED : AuthErrorCodes.GOOGLE_ERROR })
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
          const { warnings } = await this.#gmail.connectExchanged(user.id, tokens, meta)
          params.gmail = 'connected'
          if (warnings.length > 0) params.gmail_warning = warnings.map((w) => w.code).join(',')
        } catch (err) {
          if (!(err instanceof AppError)) onUnexpected(err, 'Google sign-in: could not connect Gmail')
          params.gmail_error = err instanceof AppError ? err.code : ErrorCodes.INTERNAL
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
    google: app.google,
    googleSignIn: app.googleSignIn,
    gmail: app.gmail,
    loginThrottle: app.loginThrottle,
    googleOps: app.googleOps,
    clock: app.clock,
    config: app.config
  }))
}, { name: 'google-web-flow', dependencies: ['prisma', 'google', 'google-sign-in', 'gmail', 'login-throttle', 'google-ops-throttle'] })
