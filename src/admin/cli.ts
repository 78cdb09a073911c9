// `npm run admin -- <command>` (or `node dist/src/admin/cli.js <command>`): operator controls, with the server's
// configuration and code (src/app.ts), without listening. Answers are JSON on stdout; mistakes are one line on
// stderr (exit 1). With the embedded PGlite database the directory is locked by the running server
// (src/db/data-dir-lock.ts): the command then refuses before writing anything, instead of writing into a copy
// the server never sees.
import { ADMIN_USAGE, AdminError, AdminUsageError, checkAdminArguments } from './usage.ts'

// Stack traces name the TypeScript sources of the bundle (scripts/build.mjs) loaded from here on.
process.setSourceMapsEnabled(true)
// The app is loaded once the command line is known to be good (below): usage errors answer at once.
const { startFailureMessage } = await import('../start-failure.ts')

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  if (argv.length === 1 && ['help', '--help', '-h'].includes(argv[0]!)) {
    process.stdout.write(ADMIN_USAGE + '\n')
    return 0
  }
  if (argv.length === 0) {
    process.stderr.write(ADMIN_USAGE + '\n')
    return 1
  }
  try {
    checkAdminArguments(argv)
  } catch (err) {
    if (!(err instanceof AdminError)) throw err
    process.stderr.write(err instanceof AdminUsageError ? `admin: ${err.message}\n\n${ADMIN_USAGE}\n` : `admin: ${err.message}\n`)
    return 1
  }
  const [{ default: Fastify }, { default: app, serverOptions }, { loadConfigOrExit }, { runAdminCommand }] = await Promise.all([
    import('fastify'), import('../app.ts'), import('../start-server.ts'), import('./commands.ts')
  ])
  const config = await loadConfigOrExit(process.env)
  // Logs go to stderr, warnings and up: stdout is the JSON answer only.
  const server = Fastify(serverOptions(config, { level: 'warn', stream: process.stderr }))
  try {
    await server.register(app, { config, backgroundJobs: false })
    await server.ready()
  } catch (err) {
    const message = startFailureMessage(err)
    if (message == null) throw err
    process.stderr.write(`admin: ${message}\n`)
    return 1
  }
  try {
    process.stdout.write(JSON.stringify(await runAdminCommand(server, argv, (line) => process.stderr.write(line + '\n')), null, 2) + '\n')
    return 0
  } catch (err) {
    if (err instanceof AdminError) {
      process.stderr.write(`admin: ${err.message}\n`)
    } else {
      server.log.error({ err }, 'admin command failed')
      process.stderr.write('admin: internal error (see the log above)\n')
    }
    return 1
  } finally {
    await server.close()
  }
}

// PGlite and the schema engine leave timers behind: exit explicitly.
main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`admin failed: ${startFailureMessage(err) ?? (err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
