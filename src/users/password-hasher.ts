import { hash, verify } from '@node-rs/argon2'
import fp from 'fastify-plugin'

/**
 * Argon2id at OWASP's first recommended setting (m = 19 MiB, t = 2, p = 1). @node-rs/argon2 runs it on
 * libuv's thread pool, so a login storm does not stall the event loop.
 */
// `algorithm: 2` is Argon2id (the package's enum is a const enum, which isolated modules cannot import).
const options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }

export class PasswordHasher {
  /** Verified against when the account does not exist, so unknown users cost the same time as wrong passwords. */
  #dummyHash: Promise<string> | undefined

  async hash (password: string): Promise<string> {
    return await hash(password, options)
  }

  async verify (passwordHash: string | null | undefined, password: string): Promise<boolean> {
    if (passwordHash == null) {
      this.#dummyHash ??= hash('inboxgate-timing-equaliser', options)
      await verify(await this.#dummyHash, password).catch(() => false)
      return false
    }
    try {
      return await verify(passwordHash, password)
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
  app.decorate('passwords', new PasswordHasher())
}, { name: 'passwords' })
