import type { FastifyInstance } from 'fastify';
import { createSession, findUserByEmail, listOrgsForUser } from '../../catalog/accounts.js';
import { verifyPassword } from '../../auth/password.js';
import { AuthenticationError } from '../../errors.js';
import type { ApiContext } from '../context.js';
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
      // The same answer for an unknown user and a wrong password: no probing for accounts.
      if (!user || !(await verifyPassword(password, user.password_hash))) throw new AuthenticationError('wrong username or password');
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
}
