import { GraphQLError } from 'graphql'
import type { ExecutionResult, GraphQLFormattedError } from 'graphql'
import type { MercuriusContext } from 'mercurius'
import { isDatabaseUnavailable } from '../db/prisma-errors.ts'
import { AppError, ErrorCodes, Errors, FrameworkCodes, Reasons } from '../errors.ts'

type FormattedError = GraphQLFormattedError & { extensions: { code: string } }
type Log = { error: (obj: object, msg: string) => void, warn: (obj: object, msg: string) => void }

// Outages of a dependency: the client is told to retry; the operator needs the cause, which only the log gets.
const OUTAGES = new Set<string>([ErrorCodes.VAULT_UNAVAILABLE, ErrorCodes.GOOGLE_UNAVAILABLE, ErrorCodes.DATABASE_UNAVAILABLE])

// graphql-js ends some validation and coercion messages with a guess ("Did you mean \"me\"?", "… the enum value
// \"ACTIVE\"?"): with introspection off it would still let anyone read the schema one typo at a time.
const SUGGESTION = /\s*Did you mean [^]*\?$/
const withoutSuggestion = (message: string, hide: boolean) => hide ? message.replace(SUGGESTION, '') : message

// graphql-js words a variable it cannot coerce as `Variable "$input" got invalid value { email: …, password: "…" }
// at "input.x"; <why>`, and some reasons quote the value again ("String cannot represent a non string value: …",
// "Value "…" does not exist in …"): a password or token sent with one wrong field would come back in the error (and
// in any log of it). graphql-jit (Mercurius compiles a query seen before) words the same errors a little
// differently ("Expected type ClientKind."), hence the alternatives. The variable, the path and the reason stay;
// the value goes (docs/security.md item 27a).
const VARIABLE_VALUE = /^(Variable "\$\w+") got invalid value [^]*?(?: at "([\w.[\]]+)")?; ((?:Field "\w+" (?:is not defined by type|of required type) [^]*|Expected non-nullable type [^]*|\w+ cannot represent [^:]*|Value "[^]*" does not exist in "\w+" enum\.[^]*|Expected type "?\w+"?[.;])[^]*)$/
const QUOTED_VALUE = [/^(\w+ cannot represent [^:]*): [^]*$/, /^Value "[^]*" (does not exist in "\w+" enum\.)[^]*$/]
function withoutVariableValue (message: string): string {
  if (!message.startsWith('Variable "$') || !message.includes(' got invalid value ')) return message
  const parts = VARIABLE_VALUE.exec(message)
  if (parts == null) return `${/^Variable "\$\w+"/.exec(message)?.[0] ?? 'A variable'} got an invalid value.`
  let why = parts[3]!.replace(/^Expected type "?(\w+)"?[.;][^]*$/, 'Expected type "$1".')
  why = why.replace(QUOTED_VALUE[0]!, '$1.').replace(QUOTED_VALUE[1]!, 'The value $1')
  return `${parts[1]} got an invalid value${parts[2] != null ? ` at "${parts[2]}"` : ''}; ${why}`
}

/** The cause's name and message only: the vault and Google gateways build causes that carry no token by design. */
const causeOf = (err: Error) => err.cause instanceof Error ? `${err.cause.name}: ${err.cause.message.slice(0, 300)}` : undefined

/**
 * The one error formatter: every error gets `extensions.code`; our AppErrors keep their message; errors from
 * Fastify/Mercurius before execution (bad JSON, CSRF, body too large) keep their 4xx meaning; anything else
 * is masked as INTERNAL and logged server-side only (its message may quote a token, SQL or a stack).
 */
export function formatError (error: GraphQLError, log: Log, opts: { hideSuggestions?: boolean } = {}): FormattedError[] {
  const hide = opts.hideSuggestions === true
  const original: (Error & { code?: string, statusCode?: number, errors?: unknown[] }) | undefined = error.originalError
  const base = { locations: error.locations, path: error.path }

  if (original instanceof AppError) {
    if (OUTAGES.has(original.code)) log.warn({ code: original.code, path: error.path, cause: causeOf(original) }, original.message)
    const reason = original.reason != null ? { reason: original.reason } : {}
    return [{ ...base, message: original.message, extensions: { ...original.details, ...reason, code: original.code } }]
  }
  // Mercurius wraps schema-validation failures in one MER_ERR_GQL_VALIDATION error carrying the list (its documented
  // shape); our NotADocumentError (graphql/index.ts) carries its parse error the same way.
  if (original != null && Array.isArray(original.errors)) {
    return original.errors.flatMap((e) => formatError(e instanceof GraphQLError ? e : new GraphQLError(String((e as Error).message ?? e)), log, opts))
  }
  if (original == null || original instanceof GraphQLError) {
    // Errors graphql-js raised itself: syntax, validation, variable coercion. Their messages describe the query, not secrets.
    // graphql-armor words its limit errors as "Syntax Error: …" although the query parsed: they are validation.
    const armor = /^Syntax Error: (Aliases limit .*)$/.exec(error.message)
    if (armor != null) return [{ ...base, message: armor[1]!, extensions: { code: ErrorCodes.GRAPHQL_VALIDATION_FAILED } }]
    const code = error.message.startsWith('Syntax Error')
      ? ErrorCodes.GRAPHQL_PARSE_FAILED
      : error.message.startsWith('Variable "$')
        ? ErrorCodes.BAD_USER_INPUT
        : ErrorCodes.GRAPHQL_VALIDATION_FAILED
    return [{ ...base, message: withoutSuggestion(withoutVariableValue(error.message), hide), extensions: { code } }]
  }
  if (original.code === FrameworkCodes.MERCURIUS_CSRF) {
    return [{ ...base, message: original.message, extensions: { code: ErrorCodes.FORBIDDEN, reason: Reasons.CSRF } }]
  }
  if (typeof original.statusCode === 'number' && original.statusCode >= 400 && original.statusCode < 500 &&
      typeof original.code === 'string' && /^(FST_|MER_)/.test(original.code)) {
    return [{ ...base, message: withoutSuggestion(original.message, hide), extensions: { code: ErrorCodes.BAD_USER_INPUT, reason: original.code } }]
  }
  if (isDatabaseUnavailable(original)) {
    log.warn({ code: Errors.databaseUnavailable.code, path: error.path, err: original }, 'database unavailable')
    return [{ ...base, message: Errors.databaseUnavailable.message, extensions: { code: Errors.databaseUnavailable.code } }]
  }
  log.error({ err: original, path: error.path }, 'unexpected error in GraphQL request')
  return [{ ...base, message: Errors.internal.message, extensions: { code: Errors.internal.code } }]
}

export function errorFormatter (execution: ExecutionResult & { statusCode?: number }, ctx: MercuriusContext) {
  const log = ctx.reply?.log ?? ctx.app.log
  // In production the schema is not published (no introspection, no GraphiQL): errors do not guess at it either.
  const hideSuggestions = ctx.app.config.PRODUCTION
  const errors = (execution.errors ?? []).flatMap((e) => formatError(e, log, { hideSuggestions }))
  let statusCode = execution.data != null ? 200 : (execution.statusCode ?? 200)
  if (execution.data == null && execution.statusCode === undefined && execution.errors?.length === 1) {
    const sc = (execution.errors[0]?.originalError as { statusCode?: unknown } | undefined)?.statusCode
    statusCode = typeof sc === 'number' && !(execution.errors[0]?.originalError instanceof AppError) ? sc : 200
  }
  return { statusCode, response: { data: execution.data ?? null, errors } }
}
