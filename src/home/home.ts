import type { FastifyInstance } from 'fastify'

/**
 * `GET /`: what this server is and where its doors are, instead of a 404 for the first URL a newcomer opens.
 * In PRODUCTION it names the API and the probes only (GraphiQL is off there).
 */
export default async function home (app: FastifyInstance): Promise<void> {
  const { PRODUCTION, METRICS_ENABLED } = app.config
  const body = {
    name: 'inboxgate',
    about: 'GraphQL API that signs users in and keeps custody of their Gmail access',
    graphql: '/graphql',
    ...(PRODUCTION ? {} : { graphiql: '/graphiql' }),
    health: { live: '/health', ready: '/health/ready' },
    ...(METRICS_ENABLED ? { metrics: '/metrics' } : {}),
    googleSignIn: app.config.GOOGLE_CLIENT_ID == null ? 'not configured (GOOGLE_CLIENT_ID unset)' : '/auth/google',
    tokenExchange: '/oauth/token'
  }
  app.get('/', async (_request, reply) => reply.header('cache-control', 'no-store').send(body))
}
