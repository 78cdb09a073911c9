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
  show-user <email>          state, live sessions count, Gmail state, service authorizations (never a token)
  disable-user <email>       ends every session at once and refuses login and every operation; keeps the Gmail grant
  enable-user <email>        lets a disabled user sign in again (sessions ended by the disable stay ended)
  delete-user <email>        as deleteAccount: revokes the Gmail grant, deletes the vault secret, sessions and data;
                             also finishes a deletion left pending (Google or the vault was down)
  finish-deletions           finishes every pending deletion (run it from cron)
  prune-deletion-records     deletes the deletion records kept in the security log past their retention
  reconcile-vault            revokes at Google and deletes vault secrets no live Gmail connection holds, marks ACTIVE
                             connections without a secret RECONNECT_REQUIRED; safe while the server runs (cron)
  migrate-vault --to <kms|aws|local> [--delete-source]
                             copies every grant from TOKEN_VAULT_PREVIOUS to TOKEN_VAULT (= --to) under each
                             user's grant lock, reading each copy back; resumable, safe while servers run with the
                             same two settings; --delete-source then removes the source copies (docs/vault.md)
  rewrap-vault               TOKEN_VAULT=kms: re-wraps every data key under the current KMS_KEY_ID (key rotation);
                             tokens and ciphertexts untouched, resumable
  create-service-client <name> [--worker] [--all-users]
                             registers an app backend for POST /oauth/token; prints {"clientId","clientSecret"}
                             once (only a hash is kept). It acts only for users who authorized it
                             (authorizeService). --worker: may name those users by id (background jobs).
                             --all-users: acts for every user without authorization (one app, its own backend)
  list-service-clients       every service client with worker and allUsers (never a secret)
  revoke-service-client <clientId>
                             refuses the client from its next request on
  rotate-signing-key         a new key signs access tokens from now on; the previous one keeps verifying (and stays
                             in /.well-known/jwks.json) until every token it signed has expired, then is retired.
                             Other server processes pick the new key up within a minute; nobody is signed out
  google-risc-register <url> registers <url> (…/google/risc) as this project's Cross-Account Protection receiver
                             (RISC stream:update, then stream:verify), as GOOGLE_RISC_SERVICE_ACCOUNT_FILE
  create-webhook <clientId> <url> [--events type,…]
                             registers an endpoint of a service client for signed webhooks (Standard Webhooks);
                             prints {"id","secret"} once. Types: gmail.message.added, gmail.sync_required,
                             gmail.connected, gmail.reconnect_required, gmail.disconnected, user.deleted,
                             service.authorization_revoked (default: all)
  list-webhooks              every endpoint with its status (ACTIVE, FAILING, DISABLED), never a secret
  delete-webhook <id>        stops deliveries to it at once
  rotate-webhook-secret <id> prints a new secret; the old one keeps signing beside it for 24 h
  enable-webhook <id>        delivers to an endpoint disabled after failing again (replay what it missed)
  webhook-deliveries <id> [--failed]
                             the endpoint's latest deliveries (state, attempts, last status), never a body
  webhook-replay <deliveryId> | --since <ISO time> [--webhook <id>]
                             sends deliveries again, with the same webhook-id`

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
  'create-service-client': { positional: ['<name>'], flags: ['--worker', '--all-users'] },
  'list-service-clients': { positional: [] },
  'revoke-service-client': { positional: ['<clientId>'] },
  'google-risc-register': { positional: ['<url>'] },
  'rewrap-vault': { positional: [] },
  'rotate-signing-key': { positional: [] },
  'list-webhooks': { positional: [] },
  'delete-webhook': { positional: ['<id>'] },
  'rotate-webhook-secret': { positional: ['<id>'] },
  'enable-webhook': { positional: ['<id>'] }
  // migrate-vault, create-webhook, webhook-deliveries and webhook-replay take flags with values: checked by the
  // commands themselves, as strictly (an unknown option is refused).
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
