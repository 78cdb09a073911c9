import fastifyCookie from '@fastify/cookie'
import fastifyCors from '@fastify/cors'
import { LogController } from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import googleAccountBlocks from './account-protection/google-account-blocks.ts'
import accounts from './accounts/plugin.ts'
import unverifiedAccountClaim from './accounts/unverified-account-claim.ts'
import apple from './apple/apple-gateway.ts'
import appleNotifications from './apple-notifications/apple-notifications.ts'
import appleWebRoutes from './auth/apple/routes.ts'
import appleSignIn from './auth/apple/sign-in.ts'
import { systemClock } from './clock.ts'
import type { Clock } from './clock.ts'
import googleRedirect from './auth/google/routes.ts'
import googleSignIn from './auth/google/sign-in.ts'
import googleWebFlow from './auth/google/web-flow.ts'
import type { Config } from './config.ts'
import prisma from './db/prisma.ts'
import emailLinkRoutes from './email-links/routes.ts'
import emailTokens from './email-tokens/email-tokens.ts'
import emailVerification from './email-verification/email-verification.ts'
import type { Database } from './db/prisma.ts'
import eventRetention from './event-retention/event-retention.ts'
import gmailPush from './events/plugin.ts'
import gmail from './gmail/plugin.ts'
import google from './google/google-gateway.ts'
import googleRisc from './google/risc/plugin.ts'
import graphql from './graphql/index.ts'
import home from './home/home.ts'
import health from './health/health.ts'
import { trustProxyOption } from './http/client-ip.ts'
import { defaultErrorHandler } from './http/error-handler.ts'
import mailOutbox from './mail/outbox.ts'
import metrics from './metrics/metrics.ts'
import oauth from './oauth/plugin.ts'
import passwordReset from './password-reset/password-reset.ts'
import rateLimits from './rate-limits/rate-limits.ts'
import auditLog from './audit-log/audit-log.ts'
import accessTokens from './sessions/access-tokens.ts'
import liveSessionCache from './sessions/live-session-cache.ts'
import sessions from './sessions/sessions-service.ts'
import wellKnown from './signing-keys/well-known.ts'
import passwords from './users/password-hasher.ts'
import users from './users/users-service.ts'
import vault from './vault/plugin.ts'
import webhooks from './webhooks/plugin.ts'
import type { ClosableTokenVault } from './vault/index.ts'

export interface AppOptions {
  config: Config
  clock?: Clock
  /** An already opened database (tests); by default DATABASE_URL decides. */
  database?: Database
  /** A token vault built by the caller (tests, benchmarks); by default TOKEN_VAULT decides. */
  vault?: ClosableTokenVault
  /**
   * False for a short-lived process (`npm run admin`): the background jobs a server runs (mail sending, webhook
   * delivery, Gmail watch renewal) are not started; what the command writes is picked up by the servers.
   */
  backgroundJobs?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    clock: Clock
    /** See AppOptions.backgroundJobs. */
    backgroundJobs: boolean
  }
}

/**
 * Query parameters whose values are logged; every other value is `[redacted]`. An allowlist, not a denylist: a
 * client may put anything in a URL (`client_secret=…`, `password=…` on a GET), and a denylist only knows the
 * names someone thought of (issue 21 item 7).
 */
const LOGGED_QUERY_PARAMETERS = new Set(['intent', 'error', 'auth_error', 'gmail_error', 'prompt', 'first'])

/** The URL with every query value outside the allowlist redacted (names kept: they say what was sent). */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url.slice(q + 1).split('&').map((part) => {
    const eq = part.indexOf('=')
    const name = eq < 0 ? part : part.slice(0, eq)
    if (eq < 0 || LOGGED_QUERY_PARAMETERS.has(name)) return part
    return `${name}=[redacted]`
  })
  return `${url.slice(0, q)}?${parts.join('&')}`
}

function requestForLog (req: { method: string, url: string, host?: string, ip?: string, socket?: { remotePort?: number } }) {
  return { method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

/**
 * One line per request instead of Fastify's two ("incoming request" and "request completed"): at info level the
 * pair was the largest framework item of `me`'s CPU profile after JWT keys. The one line carries the (redacted)
 * request the first one had; errors, 404s and stream failures are logged as Fastify logs them.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error != null) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/**
 * Fastify's own options, shared by the server and the tests. Logs never carry credentials: the headers that
 * hold them are redacted, and nothing else in this code logs a token.
 */
export function serverOptions (config: Config, logger: FastifyServerOptions['logger'] = { level: config.LOG_LEVEL }): FastifyServerOptions {
  return {
    logger: logger === false
      ? false
      : {
          ...(typeof logger === 'object' ? logger : { level: config.LOG_LEVEL }),
          // The Google callback's query holds an authorization code: log URLs without credential values.
          serializers: { req: requestForLog },
          redact: {
            paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
            censor: '[redacted]'
          }
        },
    logController: new OneLinePerRequest(),
    trustProxy: trustProxyOption(config.TRUST_PROXY),
    bodyLimit: config.BODY_LIMIT_BYTES,
    // Bound the time a slow client can hold a connection (slowloris) and the size of URLs.
    requestTimeout: 30_000,
    // Opening the embedded database the first time runs PostgreSQL's initdb in WASM and the migrations:
    // 5–15 s on a busy 2-core machine, past Fastify's 10 s default for a plugin to load.
    pluginTimeout: 120_000,
    routerOptions: { maxParamLength: 200 }
  }
}

/**
 * What every other plugin reads: the validated configuration, the clock and whether background jobs run. Named
 * 'config' because the plugins declare it as their dependency.
 */
const configPlugin = fp(async (fastify: FastifyInstance, opts: AppOptions): Promise<void> => {
  fastify.decorate('config', opts.config)
  fastify.decorate('clock', opts.clock ?? systemClock)
  fastify.decorate('backgroundJobs', opts.backgroundJobs ?? true)
}, { name: 'config' })

/** The whole application as a plugin: it never listens (src/server.ts does; tests use inject). */
async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(configPlugin, opts)
  // 5xx masked and logged once for every route without a format of its own (src/http/error-handler.ts).
  fastify.setErrorHandler(defaultErrorHandler)

  await fastify.register(fastifyCors, {
    // Exact origins only: with credentials, a reflected or wildcard origin would hand the cookie to any site.
    origin: opts.config.PUBLIC_ORIGINS,
    credentials: true,
    methods: ['GET', 'POST'],
    allowedHeaders: ['content-type', 'authorization', 'x-mercurius-operation-name', 'mercurius-require-preflight'],
    maxAge: 600
  })
  await fastify.register(fastifyCookie)
  // Before the services that count into it; it attaches to the vault and Google once the app is ready.
  await fastify.register(metrics)
  await fastify.register(prisma, { database: opts.database })
  await fastify.register(liveSessionCache)
  await fastify.register(auditLog)
  await fastify.register(googleAccountBlocks)
  await fastify.register(passwords)
  await fastify.register(accessTokens)
  await fastify.register(rateLimits)
  await fastify.register(sessions)
  await fastify.register(mailOutbox)
  await fastify.register(emailTokens)
  await fastify.register(emailVerification)
  await fastify.register(users)
  await fastify.register(vault, { vault: opts.vault })
  await fastify.register(google)
  await fastify.register(gmail)
  await fastify.register(unverifiedAccountClaim)
  await fastify.register(passwordReset)
  await fastify.register(googleSignIn)
  await fastify.register(apple)
  await fastify.register(appleSignIn)
  await fastify.register(accounts)
  await fastify.register(googleWebFlow)
  await fastify.register(oauth)

  await fastify.register(googleRedirect)
  // Only with Google configured: these plugins exist for Google alone, so their code never meets a missing gateway.
  if (fastify.hasDecorator('googleGateway')) await fastify.register(googleRisc)
  await fastify.register(emailLinkRoutes)
  await fastify.register(webhooks)
  if (fastify.hasDecorator('googleGateway')) await fastify.register(gmailPush)
  await fastify.register(eventRetention)
  await fastify.register(appleWebRoutes)
  await fastify.register(appleNotifications)

  await fastify.register(wellKnown)
  await fastify.register(health)
  await fastify.register(home)
  await fastify.register(graphql)
}

export default fp(app, { name: 'inboxgate' })
