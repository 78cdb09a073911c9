import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases'
import { makeExecutableSchema } from '@graphql-tools/schema'
import type { FastifyInstance } from 'fastify'
import { GraphQLError, Location, NoSchemaIntrospectionCustomRule, visit } from 'graphql'
import type { DocumentNode, GraphQLSchema } from 'graphql'
import mercurius from 'mercurius'
import { Errors } from '../errors.ts'
import graphiql from '../graphiql/graphiql.ts'
import { repoRoot } from '../paths.ts'
import { requireAuthenticationByDefault } from './authentication.ts'
import { buildContext } from './context.ts'
import { errorFormatter } from './error-formatter.ts'
import { accountResolvers } from './resolvers/account.ts'
import { authResolvers } from './resolvers/auth.ts'
import { gmailResolvers } from './resolvers/gmail.ts'
import { serviceAuthorizationResolvers } from './resolvers/service-authorizations.ts'

// U+0000 and unpaired surrogates: PostgreSQL refuses them in text and jsonb columns, so a name or a login email
// carrying one would fail as INTERNAL deep inside a resolver. They are refused at the door instead.
// eslint-disable-next-line no-control-regex -- U+0000 is what this pattern exists to refuse
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const unstorableText = () => Errors.unstorableText()

/**
 * A query that is not a document graphql-js parsed. Our own error, not an imitation of Mercurius's: the formatter
 * (error-formatter.ts) answers each of `errors` as a parse error, with `statusCode` (400) for the response.
 */
class NotADocumentError extends Error {
  readonly statusCode = 400
  readonly errors = [new GraphQLError('Syntax Error: the query is not a GraphQL document')]
  constructor () {
    super('the query is not a GraphQL document')
    this.name = 'NotADocumentError'
  }
}

/** Any string in the variables (walked without recursion: nesting depth is the client's to choose). */
function hasUnstorableText (variables: unknown): boolean {
  const stack = [variables]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value === 'string') {
      if (UNSTORABLE.test(value)) return true
    } else if (typeof value === 'object' && value !== null) {
      for (const v of Object.values(value)) stack.push(v)
    }
  }
  return false
}

function hasUnstorableLiteral (document: DocumentNode): boolean {
  let found = false
  visit(document, { StringValue (node) { if (UNSTORABLE.test(node.value)) found = true } })
  return found
}

/** The SDL files, one per domain, in a stable order. */
export function loadTypeDefs (dir = path.join(repoRoot, 'schema')): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort().map((f) => readFileSync(path.join(dir, f), 'utf8'))
}

/** The executable schema: the SDL, the resolvers, and authentication required on every root field not `@public`. */
export function buildSchema (): GraphQLSchema {
  return requireAuthenticationByDefault(makeExecutableSchema({
    typeDefs: loadTypeDefs(),
    resolvers: [authResolvers, gmailResolvers, accountResolvers, serviceAuthorizationResolvers] as Parameters<typeof makeExecutableSchema>[0]['resolvers']
  }))
}

export default async function graphql (app: FastifyInstance): Promise<void> {
  const { PRODUCTION, GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_ALIASES } = app.config
  const schema = buildSchema()

  await app.register(mercurius, {
    schema,
    path: '/graphql',
    // Our own GraphiQL (src/graphiql/) instead: Mercurius's loads React and GraphiQL from a CDN.
    graphiql: false,
    jit: 1,
    context: buildContext,
    errorFormatter,
    queryDepth: GRAPHQL_MAX_DEPTH,
    // Batching multiplies every per-request limit; clients here never need it.
    allowBatchedQueries: false,
    // Refuses form and text/plain posts (CSRF) and, with Mercurius, mutations over GET.
    csrfPrevention: true,
    validationRules: [
      // Aliases let one request run a resolver many times (e.g. 100 logins); cap them (OWASP GraphQL cheat sheet).
      maxAliasesRule({ n: GRAPHQL_MAX_ALIASES, exposeLimits: true }),
      ...(PRODUCTION ? [NoSchemaIntrospectionCustomRule] : [])
    ]
  })
  // When a query fails to parse, Mercurius tries it as a JSON-encoded AST: `"query": "42"`, `"{}"` or `"null"` then
  // reaches validation as a non-document and crashes it (INTERNAL). Only documents graphql-js parsed go on, and the
  // rest is answered as a parse error is (400, GRAPHQL_PARSE_FAILED). Runs once per distinct query: documents are
  // cached once validated.
  app.graphql.addHook('preValidation', async (_schema, document) => {
    if (!((document as { loc?: unknown } | null)?.loc instanceof Location)) {
      throw new NotADocumentError()
    }
    if (hasUnstorableLiteral(document)) throw unstorableText()
  })
  app.graphql.addHook('preExecution', async (_schema, _document, _context, variables) => {
    if (variables != null && hasUnstorableText(variables)) throw unstorableText()
  })
  if (!PRODUCTION) await app.register(graphiql, { endpoint: '/graphql', schema })
}
