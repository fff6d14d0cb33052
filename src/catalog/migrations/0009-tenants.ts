import { sql, type Kysely } from 'kysely';

// Tenants and access: roles per user (service accounts are users of kind 'service_account', as
// Hydrolix assigns their roles through /users/{id}/add_roles/), one-time invites, the JWT
// signing key, and per-org source credentials (encrypted by the application before they are stored).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('user'))
    .execute();
  await db.schema.alterTable('users').addColumn('name', 'text').execute();
  // Raised by DELETE .../tokens/: service-account JWTs carry the generation they were signed in.
  await db.schema
    .alterTable('users')
    .addColumn('token_generation', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('user_roles')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_roles_pk', ['user_id', 'role'])
    .execute();
  // Until now every user was the first start's admin, and every login said super_admin.
  await sql`INSERT INTO user_roles (user_id, role) SELECT id, 'super_admin' FROM users`.execute(db);

  await db.schema
    .createTable('invites')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('type', 'text', (c) => c.notNull())
    /** AES-256-GCM of the JSON secret fields, as `v1:<iv>:<tag>:<ciphertext>` in base64. */
    .addColumn('sealed', 'text', (c) => c.notNull())
    /** The non-secret fields (region, endpoint) as JSON. */
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .addUniqueConstraint('credentials_org_name', ['org_id', 'name'])
    .execute();
}
