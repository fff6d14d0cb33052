import type { FastifyInstance } from 'fastify';
import { createSession, listOrgsForUser, principalOf } from '../../catalog/accounts.js';
import { AuthenticationError } from '../../errors.js';
import type { ApiContext } from '../context.js';
import { passwordLogin, revokeToken } from '../auth.js';
import { orgView } from '../views.js';

/** Longest password accepted anywhere: scrypt's first pass hashes the whole text. */
export const MAX_PASSWORD_LENGTH = 1024;

export function authRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: { username: string; password: string } }>(
    '/config/v1/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: { username: { type: 'string', minLength: 1, maxLength: 320 }, password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH } },
        },
      },
    },
    async (request) => {
      const { username, password } = request.body;
      const user = await passwordLogin(ctx.catalog, request, username, password);
      if (!user) throw new AuthenticationError('wrong username or password');
      const principal = await principalOf(ctx.catalog.db, user);
      const token = await createSession(ctx.catalog.db, user.id, ctx.config.tokenTtlSeconds);
      const orgs = await listOrgsForUser(ctx.catalog.db, user);
      return {
        uuid: user.id,
        email: user.email,
        orgs: orgs.map(orgView),
        groups: principal.roles,
        roles: principal.roles,
        is_superuser: principal.roles.includes('super_admin'),
        auth_token: { access_token: token, expires_in: ctx.config.tokenTtlSeconds, token_type: 'Bearer' },
      };
    },
  );
  // Revokes the token the request is authenticated with (the server's onRequest hook checked it).
  app.post('/config/v1/logout', async (request, reply) => {
    await revokeToken(ctx.catalog, request);
    return reply.status(204).send();
  });
}
