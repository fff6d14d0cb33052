import type { FastifyInstance } from 'fastify';
import { createSession, findUserByEmail, listOrgsForUser } from '../../catalog/accounts.js';
import { verifyLogin } from '../../auth/password.js';
import { AuthenticationError } from '../../errors.js';
import type { ApiContext } from '../context.js';
import { revokeToken } from '../auth.js';
import { orgView } from '../views.js';

export function authRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: { username: string; password: string } }>(
    '/config/v1/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: { username: { type: 'string', minLength: 1 }, password: { type: 'string' } },
        },
      },
    },
    async (request) => {
      const { username, password } = request.body;
      const user = await findUserByEmail(ctx.catalog.db, username);
      // The same answer, after the same work, for an unknown user and a wrong password: no probing for accounts.
      if (!(await verifyLogin(password, user?.password_hash)) || !user) throw new AuthenticationError('wrong username or password');
      const token = await createSession(ctx.catalog.db, user.id, ctx.config.tokenTtlSeconds);
      const orgs = await listOrgsForUser(ctx.catalog.db, user);
      return {
        uuid: user.id,
        email: user.email,
        orgs: orgs.map(orgView),
        groups: ['super_admin'],
        roles: ['super_admin'],
        is_superuser: true,
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
