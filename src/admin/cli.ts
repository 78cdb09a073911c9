// `npm run admin -- <command>`: operator controls, with the server's configuration and code (src/app.ts),
// without listening. With the embedded PGlite database, only one process may open DATA_DIR: stop the server first.
import Fastify from 'fastify'
import app, { serverOptions } from '../app.ts'
import { loadConfigOrExit } from '../start-server.ts'
import { ADMIN_USAGE, AdminError, runAdminCommand } from './commands.ts'

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  if (argv.length === 0 || argv[0] === '--help') {
    process.stderr.write(ADMIN_USAGE + '\n')
    return argv.length === 0 ? 1 : 0
  }
  const config = await loadConfigOrExit(process.env)
  // Logs go to stderr, warnings and up: stdout is the JSON answer only.
  const server = Fastify(serverOptions(config, { level: 'warn', stream: process.stderr }))
  await server.register(app, { config })
  await server.ready()
  try {
    process.stdout.write(JSON.stringify(await runAdminCommand(server, argv, (line) => process.stderr.write(line + '\n')), null, 2) + '\n')
    return 0
  } catch (err) {
    const message = err instanceof AdminError || (err as { code?: unknown }).code === 'BAD_USER_INPUT' ? (err as Error).message : 'internal error (see the log)'
    if (!(err instanceof AdminError)) server.log.error({ err }, 'admin command failed')
    process.stdout.write(JSON.stringify({ error: message }) + '\n')
    return 1
  } finally {
    await server.close()
  }
}

// PGlite and the schema engine leave timers behind: exit explicitly.
main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`admin failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
