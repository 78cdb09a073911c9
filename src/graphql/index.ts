import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases'
import { makeExecutableSchema } from '@graphql-tools/schema'
import type { FastifyInstance } from 'fastify'
import { NoSchemaIntrospectionCustomRule } from 'graphql'
import mercurius from 'mercurius'
import { repoRoot } from '../paths.ts'
import { buildContext } from './context.ts'
import { errorFormatter } from './error-formatter.ts'
import { authResolvers } from './resolvers/auth.ts'
import { gmailResolvers } from './resolvers/gmail.ts'

/** The SDL files, one per domain, in a stable order. */
export function loadTypeDefs (dir = path.join(repoRoot, 'schema')): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort().map((f) => readFileSync(path.join(dir, f), 'utf8'))
}

export default async function graphql (app: FastifyInstance): Promise<void> {
  const { PRODUCTION, GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_ALIASES } = app.config
  const schema = makeExecutableSchema({
    typeDefs: loadTypeDefs(),
    resolvers: [authResolvers, gmailResolvers] as Parameters<typeof makeExecutableSchema>[0]['resolvers']
  })

  await app.register(mercurius, {
    schema,
    path: '/graphql',
    graphiql: !PRODUCTION,
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
}
