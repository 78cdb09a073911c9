// The admin command's usage and argument checks, apart from the commands: `help` and a mistyped command line
// are answered without loading the app (a second, not the ten a cold start of src/app.ts takes on a busy machine).

/** An operator's mistake (unknown user, bad usage): printed on stderr as one line, with exit code 1. */
export class AdminError extends Error {
  override name = 'AdminError'
}

/** A command line that is not one of ours: printed with the usage. */
export class AdminUsageError extends AdminError {}

export const ADMIN_USAGE = `Usage: npm run admin -- <command> [args]   (same configuration as the server; prints JSON)
  help                       this text
  show-user <email>          state, live sessions count, Gmail state (never a token)
  disable-user <email>       ends every session at once and refuses login and every operation; keeps the Gmail grant
  enable-user <email>        lets a disabled user sign in again (sessions ended by the disable stay ended)
  delete-user <email>        as deleteAccount: revokes the Gmail grant, deletes the vault secret, sessions and data;
                             also finishes a deletion left pending (Google or the vault was down)
  finish-deletions           finishes every pending deletion (run it from cron)
  prune-deletion-records     deletes the deletion records kept in the security log past their retention
  reconcile-vault            revokes at Google and deletes vault secrets no live Gmail connection holds, marks ACTIVE
                             connections without a secret RECONNECT_REQUIRED; safe while the server runs (cron)
  create-service-client <name> [--worker]
                             registers an app backend for POST /oauth/token; prints {"clientId","clientSecret"}
                             once (only a hash is kept). --worker: may act for any user by id (background jobs)
  list-service-clients       every service client (never a secret)
  revoke-service-client <clientId>
                             refuses the client from its next request on
  google-risc-register <url> registers <url> (…/google/risc) as this project's Cross-Account Protection receiver
                             (RISC stream:update, then stream:verify), as GOOGLE_RISC_SERVICE_ACCOUNT_FILE`

/**
 * What each command takes: its positional arguments and flags. Checked before the configuration is loaded or
 * the database opened, so a typo (`--wrker`, a second email) is refused instead of silently ignored.
 */
const ARGUMENTS: Record<string, { positional: string[], flags?: string[] }> = {
  help: { positional: [] },
  'show-user': { positional: ['<email>'] },
  'disable-user': { positional: ['<email>'] },
  'enable-user': { positional: ['<email>'] },
  'delete-user': { positional: ['<email>'] },
  'finish-deletions': { positional: [] },
  'prune-deletion-records': { positional: [] },
  'reconcile-vault': { positional: [] },
  'create-service-client': { positional: ['<name>'], flags: ['--worker'] },
  'list-service-clients': { positional: [] },
  'revoke-service-client': { positional: ['<clientId>'] },
  'google-risc-register': { positional: ['<url>'] }
}

/** The commands `help` lists: the first word of each usage line. */
export function adminCommandNames (): string[] {
  return [...ADMIN_USAGE.matchAll(/^ {2}([a-z][a-z-]+)/gm)].map((m) => m[1]!)
}

/**
 * Refuses a command line the command does not take: an unknown command, a missing or extra argument, a flag it
 * has not got. Runs without configuration or database (the CLI calls it first).
 */
export function checkAdminArguments (argv: string[]): void {
  const [command, ...rest] = argv
  if (command == null || !adminCommandNames().includes(command)) throw new AdminUsageError(`unknown command ${JSON.stringify(command ?? '')}`)
  const spec = ARGUMENTS[command]
  if (spec == null) return
  const flags = rest.filter((a) => a.startsWith('-'))
  const positional = rest.filter((a) => !a.startsWith('-'))
  const unknown = flags.filter((f) => !(spec.flags ?? []).includes(f))
  const shape = [command, ...spec.positional, ...(spec.flags ?? []).map((f) => `[${f}]`)].join(' ')
  if (unknown.length > 0) throw new AdminUsageError(`${command}: unknown option ${unknown.join(' ')} (usage: ${shape})`)
  if (positional.length < spec.positional.length) throw new AdminUsageError(`${command}: ${spec.positional[positional.length]} is required (usage: ${shape})`)
  if (positional.length > spec.positional.length) throw new AdminUsageError(`${command}: unexpected argument ${JSON.stringify(positional[spec.positional.length])} (usage: ${shape})`)
  // The full check (users-service's normaliseEmail) runs with the app; this one spares a database start for a typo.
  const email = positional[spec.positional.indexOf('<email>')]
  if (email != null && !/^[^\s@]+@[^\s@]+$/.test(email.trim())) throw new AdminError(`${JSON.stringify(email)} is not an email address`)
}
