/** Time as the services see it. Tests substitute a controllable clock (session expiry, grace windows). */
export interface Clock {
  now (): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** A clock that only moves when told to: for tests. */
export class ManualClock implements Clock {
  #ms: number
  constructor (start: Date | number = Date.now()) {
    this.#ms = typeof start === 'number' ? start : start.getTime()
  }

  now (): Date {
    return new Date(this.#ms)
  }

  advance (ms: number): void {
    this.#ms += ms
  }
}
