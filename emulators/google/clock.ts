/** The app's own ManualClock (now() → Date) fits too, so a test can drive both with one clock. */
export interface Clock {
  /** Milliseconds since the epoch (or a Date), as the emulator sees it. */
  now (): number | Date
  advance (ms: number): void
}

/** Real time unless `start` is given (then frozen at `start`); `advance` shifts it either way. */
export const createClock = (start?: number): Clock & { now (): number } => {
  let offset = 0
  return {
    now: () => (start ?? Date.now()) + offset,
    advance: ms => { offset += ms }
  }
}

export const millisOf = (clock: Clock): number => {
  const now = clock.now()
  return typeof now === 'number' ? now : now.getTime()
}
