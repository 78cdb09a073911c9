import type { FastifyInstance } from 'fastify'

export interface PeriodicJob {
  /** One pass; a pass still running when the next is due is not started twice. */
  run: () => Promise<unknown>
  everyMs: number
  /** The first pass: 0 at once when the app is ready, n after n ms; unset, only on the interval. */
  firstAfterMs?: number
  /** The warning logged when a pass fails (the error's name and message only); the next pass retries. */
  failure: string
}

/**
 * A job every server process runs on a timer (pruning, watch renewal), one pass at a time. Never in admin commands
 * (`app.backgroundJobs` false). Stopped at preClose, before the database plugin's onClose, after the running pass.
 */
export function schedulePeriodicJob (app: FastifyInstance, job: PeriodicJob): void {
  let running: Promise<unknown> | undefined
  const pass = (): void => {
    running ??= job.run()
      .catch((err: unknown) => { app.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, job.failure) })
      .finally(() => { running = undefined })
  }
  let first: NodeJS.Timeout | undefined
  let every: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    if (!app.backgroundJobs) return
    if (job.firstAfterMs === 0) pass()
    else if (job.firstAfterMs != null) first = setTimeout(pass, job.firstAfterMs).unref()
    every = setInterval(pass, job.everyMs).unref()
  })
  app.addHook('preClose', async () => {
    clearTimeout(first)
    clearInterval(every)
    await running
  })
}
