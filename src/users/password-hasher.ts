import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'
import fp from 'fastify-plugin'
import { Errors } from '../errors.ts'

/**
 * Argon2id, by default at OWASP's first recommended setting (m = 19 MiB, t = 2, p = 1). @node-rs/argon2 runs it on
 * libuv's thread pool, off the event loop; but libuv runs 4 at once, and on a 2-core machine 4 hashing threads
 * leave the event loop waiting for a CPU (p99 delay 74 ms in a 50-login storm, BENCHMARKS.md). So at most
 * `concurrency` hashes run at once (default: CPUs available to the process − 1, at least 1); the rest queue.
 * The queue is bounded too (`maxQueue`, PASSWORD_HASH_QUEUE_MAX): in a login flood an unbounded queue makes every
 * user wait behind the flood, so beyond it a hash is refused at once (RATE_LIMITED, reason SERVER_BUSY, with a
 * retryAfterSeconds estimated from the queue and the measured hash time) and costs no CPU.
 */
// `algorithm: 2` is Argon2id (the package's enum is a const enum, which isolated modules cannot import).
const owasp = { memoryCost: 19456, timeCost: 2 }

export class PasswordHasher {
  /** Verified against when the account does not exist, so unknown users cost the same time as wrong passwords. */
  #dummyHash: Promise<string> | undefined
  readonly #concurrency: number
  readonly #maxQueue: number
  #running = 0
  readonly #waiting: Array<() => void> = []
  /** A moving average of one hash's duration (ms), for the retry estimate; ~20 ms at these parameters. */
  #averageMs = 20
  readonly #options: { algorithm: 2, memoryCost: number, timeCost: number, parallelism: 1 }

  /** `cost`: PASSWORD_HASH_MEMORY_KIB and PASSWORD_HASH_TIME_COST; a stored hash is verified at the cost it names. */
  constructor (concurrency = Math.max(1, availableParallelism() - 1), maxQueue = 64, cost = owasp) {
    this.#concurrency = concurrency
    this.#maxQueue = maxQueue
    this.#options = { algorithm: 2, ...cost, parallelism: 1 }
  }

  /** Hashes waiting for a slot (not counting those running). */
  get queued (): number {
    return this.#waiting.length
  }

  async #limited<T> (work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#maxQueue) {
        const drainMs = (this.#waiting.length / this.#concurrency + 1) * this.#averageMs
        throw Errors.serverBusy({ retryAfterSeconds: Math.max(1, Math.ceil(drainMs / 1000)) })
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    } else {
      this.#running++
    }
    const started = performance.now()
    try {
      return await work()
    } finally {
      this.#averageMs = this.#averageMs * 0.9 + (performance.now() - started) * 0.1
      // Hand the slot straight to the next waiter (the count stays), or give it back.
      const next = this.#waiting.shift()
      if (next != null) next()
      else this.#running--
    }
  }

  async hash (password: string): Promise<string> {
    return await this.#limited(() => hash(password, this.#options))
  }

  async verify (passwordHash: string | null | undefined, password: string): Promise<boolean> {
    // Only Argon2's own failures (a malformed stored hash) mean "no match"; SERVER_BUSY goes to the caller.
    if (passwordHash == null) {
      const dummy = await this.#dummy()
      await this.#limited(() => verify(dummy, password).catch(() => false))
      return false
    }
    return await this.#limited(() => verify(passwordHash, password).catch(() => false))
  }

  async #dummy (): Promise<string> {
    // Not cached when refused (SERVER_BUSY): the next unknown-user login tries again.
    this.#dummyHash ??= this.#limited(() => hash('inboxgate-timing-equaliser', this.#options))
      .catch((err: unknown) => { this.#dummyHash = undefined; throw err })
    return await this.#dummyHash
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    passwordHasher: PasswordHasher
  }
}

export default fp(async (app) => {
  app.decorate('passwordHasher', new PasswordHasher(app.config.PASSWORD_HASH_CONCURRENCY, app.config.PASSWORD_HASH_QUEUE_MAX,
    { memoryCost: app.config.PASSWORD_HASH_MEMORY_KIB, timeCost: app.config.PASSWORD_HASH_TIME_COST }))
}, { name: 'passwords', dependencies: ['config'] })
