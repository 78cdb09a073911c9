import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app, { serverOptions } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'

async function main (): Promise<void> {
  let config
  try {
    config = await loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n')
      process.exit(1)
    }
    throw err
  }
  const server = Fastify(serverOptions(config))
  await server.register(app, { config })

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err != null) server.log.error({ err }, 'server closing with error')
    else server.log.info({ signal }, 'server closing')
    await server.close()
  })

  await server.listen({ host: config.HOST, port: config.PORT })
  if (!config.PRODUCTION) server.log.info(`GraphiQL at http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}/graphiql`)
}

main().catch((err) => {
  process.stderr.write(`inboxgate failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
