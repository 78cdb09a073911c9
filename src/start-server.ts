import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import app, { serverOptions } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import type { Config } from './config.ts'

/**
 * Starting and stopping the process around the app, shared by `npm start` (src/server.ts) and `npm run dev`
 * (scripts/dev.ts), so dev mode runs exactly the production code path.
 */

/** The validated config, or the process ends with the message naming each bad variable (no stack trace). */
export async function loadConfigOrExit (env: Record<string, string | undefined>): Promise<Config> {
  try {
    return await loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n')
      process.exit(1)
    }
    throw err
  }
}

export interface StartServerOptions {
  /**
   * Run on shutdown after the server has closed (dev mode: the Google emulator, which in-flight requests may
   * still be calling while the server drains). One close-with-grace handler for everything: a second one
   * would race the first to process.exit().
   */
  onClose?: () => Promise<void>
  /** false: no "what next" text on stderr after listening (dev mode prints its own banner). */
  nextSteps?: boolean
}

/** Builds the app, installs graceful shutdown (SIGINT/SIGTERM, fatal errors) and listens. */
export async function startServer (config: Config, opts: StartServerOptions = {}): Promise<FastifyInstance> {
  const server = Fastify(serverOptions(config))
  await server.register(app, { config })

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err != null) server.log.error({ err }, 'server closing with error')
    else server.log.info({ signal }, 'server closing')
    await server.close()
    await opts.onClose?.()
  })

  await server.listen({ host: config.HOST, port: config.PORT })
  if (!config.PRODUCTION) server.log.info(`GraphiQL at ${graphiqlUrl(server)}`)
  await warnAboutStart(server)
  if (!config.PRODUCTION && opts.nextSteps !== false) process.stderr.write(nextSteps(server))
  return server
}

/**
 * What a deployment should hear at once rather than discover later. Warnings, not refusals: a password-only
 * deployment is legitimate without Google, and a server started before its database (an orchestrator bringing
 * both up) should come up not-ready (GET /health/ready answers 503) rather than crash-loop.
 */
async function warnAboutStart (server: FastifyInstance): Promise<void> {
  const { config } = server
  if (config.PRODUCTION && config.GOOGLE_CLIENT_ID == null) {
    server.log.warn('GOOGLE_CLIENT_ID is not set: Google sign-in and every Gmail operation answer GOOGLE_NOT_CONFIGURED')
  }
  // With DB_MIGRATE_ON_START the migrations have just reached the database; without, nothing has yet.
  if (!config.DB_MIGRATE_ON_START) {
    try {
      await server.prisma.$queryRawUnsafe('SELECT 1')
    } catch (err) {
      server.log.warn(`the database is unreachable (${(err as Error).message.split('\n')[0]}): every request that needs it answers DATABASE_UNAVAILABLE and /health/ready 503 until it is reachable`)
    }
  }
}

/** The first screen a newcomer reads after `npm start`: where to click, what is not set up, what to run next. */
export function nextSteps (server: FastifyInstance): string {
  const { config } = server
  const base = graphiqlUrl(server).replace(/\/graphiql$/, '')
  const lines = [
    '',
    `inboxgate is running on ${base}  (Ctrl-C stops it)`,
    `  GraphiQL     ${base}/graphiql   (try: mutation { signUp(input: {email: "you@example.com", password: "correct horse battery staple"}) { accessToken } })`,
    `  Index        ${base}/           health: ${base}/health/ready`,
    config.GOOGLE_CLIENT_ID == null
      ? '  Google       not configured (GOOGLE_CLIENT_ID unset): Google sign-in and Gmail answer GOOGLE_NOT_CONFIGURED.\n' +
        '               `npm run dev` runs the whole Gmail flow against a local Google emulator; docs/configuration.md sets up real Google.'
      : `  Google       client ${config.GOOGLE_CLIENT_ID}, redirect URI ${config.GOOGLE_REDIRECT_URI}`,
    `  Data         ${config.DATABASE_URL == null ? `embedded PostgreSQL (PGlite) in ${config.DATA_DIR}: stop this server before \`npm run admin\`` : 'PostgreSQL (DATABASE_URL)'}`,
    '  Docs         README.md and docs/README.md',
    ''
  ]
  return lines.join('\n') + '\n'
}

/** Where a browser on this machine reaches GraphiQL (the port actually bound, also when PORT=0). */
export function graphiqlUrl (server: FastifyInstance): string {
  const address = server.server.address()
  const port = typeof address === 'object' && address != null ? address.port : server.config.PORT
  const host = server.config.HOST === '0.0.0.0' || server.config.HOST === '::' ? '127.0.0.1' : server.config.HOST
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/graphiql`
}
