/*
 * The server under benchmark. bench/run.ts spawns it (pinned to one CPU when taskset exists) with the environment
 * it wants: the real app exactly as src/start-server.ts builds it, logger off, plus bench-only routes under /bench
 * that the product never has (bench/ is not in tsconfig.build.json). It prints `READY <port>` once listening and
 * closes on SIGTERM.
 */
import { createHash } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import app, { serverOptions } from '../src/app.ts'
import { AppError } from '../src/errors.ts'
import { loadConfigOrExit } from '../src/start-server.ts'

/** The same shape and size as the `me` answer: what a bare Fastify route can do on this machine at best. */
const CONSTANT = { data: { me: { id: '00000000-0000-4000-8000-000000000000', email: 'constant@bench.example', name: 'Bench Constant' } } }

/** Tokens are compared across processes by a hash: the orchestrator never needs (or prints) a Google token. */
const fingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16)
const errorCode = (err: unknown) => String((err as { code?: unknown }).code ?? (err as Error).name)

function benchRoutes (server: FastifyInstance): void {
  // 1 ms sampling: the reported delays include the sampling interval, so an idle loop reads about 1 ms.
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  server.addHook('onClose', async () => { loop.disable() })

  server.get('/bench/constant', async () => CONSTANT)

  // Exactly what the `me` resolver does (src/graphql/resolvers/auth.ts, context.ts): the same access-token
  // verification and the same database read, without GraphQL.
  server.get('/bench/me', async (request, reply) => {
    try {
      const { sub } = await server.accessTokens.verify(request)
      const user = await server.users.requireActive(sub)
      return { data: { me: { id: user.id, email: user.email, name: user.name } } }
    } catch (err) {
      if (err instanceof AppError) return await reply.code(401).send({ errors: [{ message: err.message, extensions: { code: err.code } }] })
      throw err
    }
  })

  server.post('/bench/event-loop/reset', async () => {
    loop.reset()
    return { ok: true }
  })
  server.get('/bench/event-loop', async () => {
    const ms = (ns: number) => ns / 1e6
    return { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max), mean: ms(loop.mean), samples: loop.count }
  })

  // Refresh-token families for the rotation benchmark, without paying Argon2 for each.
  server.post<{ Body: { userId: string, count: number } }>('/bench/sessions', async (request) => {
    const user = await server.prisma.user.findUniqueOrThrow({ where: { id: request.body.userId } })
    const tokens: string[] = []
    for (let i = 0; i < request.body.count; i++) tokens.push((await server.sessions.start(user, 'NATIVE', { ip: '127.0.0.1', userAgent: 'bench' })).refreshToken)
    return { tokens }
  })

  // Puts the stored expiry (vault bundle and row) `inSeconds` from now, as custody-faults.test.ts does for its
  // worker processes: the servers run on the wall clock, so a stored token is aged instead of moving time.
  // Bumping vaultVersion makes every process's token cache miss, as a real refresh elsewhere would.
  server.post<{ Body: { userId: string, inSeconds: number } }>('/bench/gmail/age', async (request) => {
    const { userId, inSeconds } = request.body
    const bundle = await server.vault.get(userId)
    if (bundle == null) throw new Error('no Gmail bundle for this user')
    const expiryDate = Date.now() + inSeconds * 1000
    await server.vault.put(userId, { ...bundle, expiryDate })
    await server.prisma.gmailConnection.update({ where: { userId }, data: { accessTokenExpiresAt: new Date(expiryDate), vaultVersion: { increment: 1 } } })
    return { ok: true }
  })

  // `batches` rounds, one after the other, of `callers` concurrent getGmailAccessToken for one user, started at
  // `startAt` (wall clock, ms) so that two processes can start together.
  server.post<{ Body: { userId: string, callers: number, batches?: number, startAt?: number } }>('/bench/gmail/tokens', async (request) => {
    const { userId, callers, batches = 1, startAt } = request.body
    if (startAt != null && startAt > Date.now()) await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()))
    const before = server.vault.stats()
    const started = performance.now()
    const tokens = new Set<string>()
    const errors: string[] = []
    for (let b = 0; b < batches; b++) {
      const settled = await Promise.allSettled(Array.from({ length: callers }, async () => await server.gmail.getGmailAccessToken(userId)))
      for (const s of settled) {
        if (s.status === 'fulfilled') tokens.add(fingerprint(s.value))
        else errors.push(errorCode(s.reason))
      }
    }
    const ms = performance.now() - started
    const after = server.vault.stats()
    return {
      calls: callers * batches,
      ms,
      tokens: [...tokens],
      errors,
      vault: { reads: after.reads - before.reads, writes: after.writes - before.writes, deletes: after.deletes - before.deletes }
    }
  })
}

const config = await loadConfigOrExit(process.env)
const server = Fastify(serverOptions(config, false))
await server.register(app, { config })
benchRoutes(server)
await server.listen({ host: config.HOST, port: config.PORT })
const address = server.server.address()
process.stdout.write(`READY ${typeof address === 'object' && address != null ? address.port : config.PORT}\n`)

const stop = () => {
  server.close().then(() => process.exit(0), () => process.exit(1))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
