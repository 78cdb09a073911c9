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
  return server
}

/** Where a browser on this machine reaches GraphiQL (the port actually bound, also when PORT=0). */
export function graphiqlUrl (server: FastifyInstance): string {
  const address = server.server.address()
  const port = typeof address === 'object' && address != null ? address.port : server.config.PORT
  const host = server.config.HOST === '0.0.0.0' || server.config.HOST === '::' ? '127.0.0.1' : server.config.HOST
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/graphiql`
}
