import type { Resolvers } from '../../generated/graphql.ts'
import type { ServiceAuthorizationView } from '../../oauth/service-authorizations.ts'

const view = (a: ServiceAuthorizationView) => ({ client: a.client, createdAt: a.createdAt.toISOString(), lastUsedAt: a.lastUsedAt?.toISOString() ?? null })

export const serviceAuthorizationResolvers: Resolvers = {
  Query: {
    serviceAuthorizations: async (_root, _args, ctx) => (await ctx.app.serviceAuthorizations.list((await ctx.viewer()).sub)).map(view)
  },
  Mutation: {
    serviceToken: async (_root, { clientId }, ctx) => {
      const issued = await ctx.app.serviceAuthorizations.serviceToken(await ctx.viewer(), clientId)
      return { token: issued.token, expiresAt: issued.expiresAt.toISOString(), client: issued.client }
    },
    authorizeService: async (_root, { clientId, password }, ctx) => {
      const viewer = await ctx.viewer()
      await ctx.app.stepUp.require(viewer, password, 'authorizeService', ctx.meta)
      return view(await ctx.app.serviceAuthorizations.authorize(viewer.sub, clientId, ctx.meta))
    },
    revokeServiceAuthorization: async (_root, { clientId }, ctx) =>
      await ctx.app.serviceAuthorizations.revoke((await ctx.viewer()).sub, clientId, ctx.meta)
  }
}
