import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Whether an Authorization header carries the token; digests of equal length, so the comparison takes the same time whatever the guess. */
export function carriesBearerToken(authorization: string | undefined, token: string): boolean {
  const [scheme, value] = (authorization ?? '').split(/\s+/, 2);
  return scheme?.toLowerCase() === 'bearer' && value !== undefined && timingSafeEqual(digest(value), digest(token));
}

export const METRICS_TOKEN_HELP = 'needs "Authorization: Bearer <INLET_METRICS_TOKEN>": set bearer_token (or authorization.credentials) in the Prometheus scrape config';
