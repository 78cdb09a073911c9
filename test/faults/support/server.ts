/*
 * The inboxgate server as a child process for the fault tests (not a test file: tap runs only *.fault.ts here).
 * It starts exactly as src/server.ts does — config from the environment, the real app plugin, listening on
 * HOST:PORT — plus one test-only route, so the soak can drive the custody service directly:
 *
 *   POST /__test/gmail-token  (Authorization: Bearer <access token>)
 *     → app.gmailConnections.getGmailAccessToken(<the token's user>): 200 {ok: true}; an AppError → 409 {code}; anything else → 500
 *   GET /__test/memory → process.memoryUsage(), after a full GC when node runs with --expose-gc
 *
 * It prints one line `READY {"pid":…,"port":…}` once listening. SIGTERM closes it gracefully (prints CLOSED);
 * the tests also SIGKILL it on purpose.
 */
import Fastify from 'fastify'
import app, { serverOptions } from '../../../src/app.ts'
import { AppError } from '../../../src/errors.ts'
import { loadConfigOrExit } from '../../../src/start-server.ts'

const config = await loadConfigOrExit(process.env)
const server = Fastify(serverOptions(config))
await server.register(app, { config })

server.post('/__test/gmail-token', async (request, reply) => {
  try {
    const { sub } = await server.accessTokens.verify(request)
    await server.gmailConnections.getGmailAccessToken(sub)
    return { ok: true }
  } catch (err) {
    if (err instanceof AppError) return await reply.code(409).send({ code: err.code })
    throw err
  }
})

// Memory as V8 sees it, after a full collection when the process runs with --expose-gc (the soak's leak check).
server.get('/__test/memory', async () => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  return { ...process.memoryUsage(), collected: gc != null }
})

let closing = false
process.on('SIGTERM', () => {
  if (closing) return
  closing = true
  server.close().then(() => {
    process.stdout.write('CLOSED\n')
    process.exit(0)
  }, (err: unknown) => {
    process.stderr.write(`close failed: ${String(err)}\n`)
    process.exit(1)
  })
})

await server.listen({ host: config.HOST, port: config.PORT })
const address = server.server.address()
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, port: typeof address === 'object' && address != null ? address.port : config.PORT })}\n`)
