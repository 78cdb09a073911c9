import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.ts'
import { Errors } from '../errors.ts'

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

/**
 * The refresh cookie authenticates by itself, so a request spending it must prove it was made by our own
 * pages (ASVS 3.5): a JSON body (forces a CORS preflight), a header no HTML form can send, and, as browsers
 * always send it on POST, an Origin from the allowlist.
 */
export function readRefreshCookie (request: FastifyRequest, config: CookieConfig): string | undefined {
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (contentType !== 'application/json') throw Errors.cookieNotJson()
  if (!CSRF_HEADERS.some((h) => typeof request.headers[h] === 'string')) {
    throw Errors.cookieWithoutOperationName()
  }
  const origin = request.headers.origin
  if (typeof origin !== 'string' || !config.PUBLIC_ORIGINS.includes(origin)) {
    // Naming the origin that arrived is what an operator needs to fix PUBLIC_ORIGINS; it is the client's own header.
    throw Errors.cookieForeignOrigin(typeof origin === 'string' ? `came from ${JSON.stringify(origin.slice(0, 200))}, which is not in PUBLIC_ORIGINS` : 'carried no Origin header')
  }
  return request.cookies[config.REFRESH_COOKIE_NAME]
}
