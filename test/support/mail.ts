import { startMailCatcher } from '../../emulators/mail/catcher.ts'
import type { CaughtMail, RunningMailCatcher } from '../../emulators/mail/catcher.ts'

interface Teardown { teardown (fn: () => unknown): void }

/** The project's SMTP catcher (emulators/mail), started for one test and closed in its teardown. */
export async function startCatcher (t: Teardown): Promise<RunningMailCatcher> {
  const catcher = await startMailCatcher()
  t.teardown(async () => { await catcher.close() })
  return catcher
}

/** The single-use token of a mailed link (its `token` parameter), as a native app takes it from the link. */
export function tokenOf (mail: CaughtMail): string {
  const match = /[?&]token=([A-Za-z0-9_-]+)/.exec(mail.text)
  if (match?.[1] == null) throw new Error(`no token in mail ${mail.subject}`)
  return match[1]
}
