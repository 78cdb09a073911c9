/**
 * Plaintext data keys of the KMS vault, held in memory so that a user's next reads and writes need no KMS call:
 * one entry per secret name, bounded in age, in uses and in entries (least recently used dropped first). Every
 * key leaving the cache is overwritten with zeros (Buffer.fill): Node gives no stronger guarantee (OpenSSL keeps
 * its own copy only for the duration of one cipher, V8 never sees the bytes), but no stale key lingers in our heap.
 */
export interface DataKeyCacheOptions {
  maxAgeMs: number
  maxUses: number
  /** 0 disables caching: each key serves one seal or open and is zeroed at once. */
  maxEntries: number
  now?: () => number
}

/** A data key as KMS handed it out: the plaintext, its wrapped form (as stored) and the KMS key that wrapped it. */
export interface DataKey {
  key: Buffer
  wrapped: Buffer
  kmsKeyArn: string
}

interface Entry extends DataKey {
  expiresAt: number
  usesLeft: number
}

export class DataKeyCache {
  readonly #entries = new Map<string, Entry>()
  readonly #options: Required<DataKeyCacheOptions>
  readonly #sweeper: NodeJS.Timeout

  constructor (options: DataKeyCacheOptions) {
    this.#options = { now: Date.now, ...options }
    // Expired keys are zeroed even for users who never come back (not only when looked up again).
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(1000, Math.min(options.maxAgeMs, 60_000))).unref()
  }

  get size (): number {
    return this.#entries.size
  }

  /**
   * Runs `work` with the key held for `name` if it is the one that `wrapped` wraps (what open needs) or, with
   * `wrapped` null, if it was wrapped by a KMS key `isCurrent` accepts (what a new seal needs). Counts one use.
   */
  use<T> (name: string, wrapped: Buffer | null, isCurrent: (kmsKeyArn: string) => boolean, work: (dataKey: DataKey) => T): { value: T } | null {
    const entry = this.#entries.get(name)
    if (entry == null) return null
    if (entry.expiresAt <= this.#options.now() || entry.usesLeft <= 0) {
      this.drop(name)
      return null
    }
    if (wrapped == null ? !isCurrent(entry.kmsKeyArn) : !entry.wrapped.equals(wrapped)) return null
    entry.usesLeft--
    // Most recently used last: Map keeps insertion order, so the first entry is the one to evict.
    this.#entries.delete(name)
    this.#entries.set(name, entry)
    try {
      return { value: work(entry) }
    } finally {
      if (entry.usesLeft <= 0) this.drop(name)
    }
  }

  /**
   * Takes ownership of a key fresh from KMS: runs `work` with it (its first use), then keeps it for `name` (replacing
   * and zeroing the previous one) or zeroes it when caching is off.
   */
  adopt<T> (name: string, dataKey: DataKey, work: (dataKey: DataKey) => T): T {
    const { maxAgeMs, maxUses, maxEntries, now } = this.#options
    try {
      return work(dataKey)
    } finally {
      if (maxEntries === 0 || maxUses <= 1) {
        dataKey.key.fill(0)
      } else {
        this.drop(name)
        this.#entries.set(name, { ...dataKey, expiresAt: now() + maxAgeMs, usesLeft: maxUses - 1 })
        while (this.#entries.size > maxEntries) this.drop(this.#entries.keys().next().value as string)
      }
    }
  }

  drop (name: string): void {
    const entry = this.#entries.get(name)
    if (entry == null) return
    this.#entries.delete(name)
    entry.key.fill(0)
  }

  /** Zeroes every key (close, or after a key rotation). */
  clear (): void {
    for (const name of [...this.#entries.keys()]) this.drop(name)
  }

  close (): void {
    clearInterval(this.#sweeper)
    this.clear()
  }

  #sweep (): void {
    const now = this.#options.now()
    for (const [name, entry] of this.#entries) if (entry.expiresAt <= now) this.drop(name)
  }
}
