import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { AppError, ErrorCodes } from '../errors.ts'

type CookieConfig = Pick<Config, 'REFRESH_COOKIE_NAME' | 'REFRESH_COOKIE_SAMESITE' | 'PUBLIC_ORIGINS'>

/**
 * `__Host-` cookies must be Secure, Path=/ and carry no Domain (host-only); `__Secure-` ones are
 * scoped to the GraphQL path instead. Browsers treat http://localhost as secure, so dev works too.
 */
function cookieOptions (config: CookieConfig, expires: Date) {
  return {
    httpOnly: true,
    secure: true,
    sameSite: config.REFRESH_COOKIE_SAMESITE,
    path: config.REFRESH_COOKIE_NAME.startsWith('__Host-') ? '/' : '/graphql',
    expires
  } as const
}

export function setRefreshCookie (reply: FastifyReply, config: CookieConfig, token: string, expires: Date): void {
  reply.setCookie(config.REFRESH_COOKIE_NAME, token, cookieOptions(config, expires))
}

export function clearRefreshCookie (reply: FastifyReply, config: CookieConfig): void {
  reply.clearCookie(config.REFRESH_COOKIE_NAME, cookieOptions(config, new Date(0)))
}

const CSRF_HEADERS = ['x-mercurius-operation-name', 'mercurius-require-preflight']

/** `extensions.reason` says which check failed: the request's shape (CSRF) or where it came from (ORIGIN_NOT_ALLOWED). */
const refused = (reason: 'CSRF' | 'ORIGIN_NOT_ALLOWED', message: string) => new AppError(ErrorCodes.FORBIDDEN, message, { reason })

/**
 * The refresh cookie authenticates by itself, so a request spending it must prove it was made by our own
 * pages (ASVS 3.5): a JSON body (forces a CORS preflight), a header no HTML form can send, and, as browsers
 * always send it on POST, an Origin from the allowlist.
 */
export function readRefreshCookie (request: FastifyRequest, config: CookieConfig): string | undefined {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (contentType !== 'application/json') throw refused('CSRF', 'Cookie-authenticated requests must be sent as application/json')
  if (!CSRF_HEADERS.some((h) => typeof request.headers[h] === 'string')) {
    throw refused('CSRF', 'Cookie-authenticated requests need the x-mercurius-operation-name header')
  }
  const origin = request.headers.origin
  if (typeof origin !== 'string' || !config.PUBLIC_ORIGINS.includes(origin)) {
    // Naming the origin that arrived is what an operator needs to fix PUBLIC_ORIGINS; it is the client's own header.
    const arrived = typeof origin === 'string' ? `came from ${JSON.stringify(origin.slice(0, 200))}, which is not in PUBLIC_ORIGINS` : 'carried no Origin header'
    throw refused('ORIGIN_NOT_ALLOWED', `Cookie-authenticated requests must come from an allowed origin: this one ${arrived}`)
  }
  return request.cookies[config.REFRESH_COOKIE_NAME]
}
