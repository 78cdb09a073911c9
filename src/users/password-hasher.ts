import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'
import fp from 'fastify-plugin'

/**
 * Argon2id at OWASP's first recommended setting (m = 19 MiB, t = 2, p = 1). @node-rs/argon2 runs it on
 * libuv's thread pool, off the event loop; but libuv runs 4 at once, and on a 2-core machine 4 hashing threads
 * leave the event loop waiting for a CPU (p99 delay 74 ms in a 50-login storm, BENCHMARKS.md). So at most
 * `concurrency` hashes run at once (default: CPUs available to the process − 1, at least 1); the rest queue.
 */
// `algorithm: 2` is Argon2id (the package's enum is a const enum, which isolated modules cannot import).
const options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }

export class PasswordHasher {
  /** Verified against when the account does not exist, so unknown users cost the same time as wrong passwords. */
  #dummyHash: Promise<string> | undefined
  readonly #concurrency: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor (concurrency = Math.max(1, availableParallelism() - 1)) {
    this.#concurrency = concurrency
  }

  async #limited<T> (work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    else this.#running++
    try {
      return await work()
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or give it back.
      const next = this.#waiting.shift()
      if (next != null) next()
      else this.#running--
    }
  }

  async hash (password: string): Promise<string> {
    return await this.#limited(() => hash(password, options))
  }

  async verify (passwordHash: string | null | undefined, password: string): Promise<boolean> {
    if (passwordHash == null) {
      this.#dummyHash ??= this.#limited(() => hash('inboxgate-timing-equaliser', options))
      const dummy = await this.#dummyHash
      await this.#limited(() => verify(dummy, password)).catch(() => false)
      return false
    }
    try {
      return await this.#limited(() => verify(passwordHash, password))
    } catch {
      return false
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    passwords: PasswordHasher
  }
}

export default fp(async (app) => {
  app.decorate('passwords', new PasswordHasher(app.config.PASSWORD_HASH_CONCURRENCY))
}, { name: 'passwords', dependencies: ['config'] })
