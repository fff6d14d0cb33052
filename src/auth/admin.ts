import { findUserByEmail, setUserPassword } from '../catalog/accounts.js';
import type { CatalogDb } from '../catalog/db.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { generatePassword, hashPassword } from './password.js';

/** Gives a user a new password (a generated one when none is given) and revokes the user's tokens. */
export async function resetPassword(db: CatalogDb, email: string, password: string | undefined): Promise<{ password: string; generated: boolean }> {
  if (password === '') throw new ValidationError('--password is empty: give a password, or leave the option out to have one generated');
  const user = await findUserByEmail(db, email);
  if (!user) throw new NotFoundError(`there is no user "${email}" in this catalog: give the admin's address with --email (it is INLET_ADMIN_EMAIL as it was on the first start)`);
  const chosen = password ?? generatePassword();
  await setUserPassword(db, user.id, await hashPassword(chosen));
  return { password: chosen, generated: password === undefined };
}
