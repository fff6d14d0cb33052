import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { ValidationError } from '../errors.js';
import { DEFAULT_MAX_LINE_BYTES } from '../ingest/long-lines.js';
import { secretKeyBytes } from '../auth/secret-box.js';

export type Role = 'all' | 'api' | 'worker';

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** `sqlite:///abs/path.sqlite` (the embedded default) or `postgres://…`. */
  readonly databaseUrl: string;
  /** PostgreSQL connections one process may hold; undefined: the role's default (see catalogPoolSize). */
  readonly databasePoolSize: number | undefined;
  readonly role: Role;
  readonly adminEmail: string;
  /** Undefined means: generate one on first start and print it once. */
  readonly adminPassword: string | undefined;
  readonly workers: number;
  /** Directories below which `file://` sources may be read; empty means file:// is refused. */
  readonly fileRoots: readonly string[];
  /** Undefined means: path-style exactly when a custom S3 endpoint is configured. */
  readonly s3ForcePathStyle: boolean | undefined;
  /** A custom S3-compatible endpoint (MinIO, s3rver, …) from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL. */
  readonly s3Endpoint: string | undefined;
  readonly s3Region: string;
  readonly leaseSeconds: number;
  readonly tokenTtlSeconds: number;
  /** Failed logins per account and per client address within loginWindowSeconds before logins are refused (429). */
  readonly loginMaxFailures: number;
  readonly loginMaxFailuresPerAddress: number;
  readonly loginWindowSeconds: number;
  /** Encrypts source credentials in the catalog (32 bytes, base64 or hex); without it credentials cannot be stored or used. */
  readonly secretKey: string | undefined;
  readonly pollIntervalMs: number;
  /** How long a polled job status is reused before it is recomputed from the catalog. */
  readonly statusCacheMs: number;
  /** /query: queries running at once, all orgs together. */
  readonly queryConcurrency: number;
  /** /query: queries one org may run at once. */
  readonly queryOrgConcurrency: number;
  /** /query: queries waiting for a slot, all orgs together (503 past it). */
  readonly queryQueue: number;
  /** /query: queries one org may have waiting (429 past it). */
  readonly queryOrgQueue: number;
  /** /query: the query process's data memory limit (RLIMIT_DATA), in MiB. */
  readonly queryProcessMemoryMb: number;
  /** DuckDB threads for each worker slot, so slots share the machine instead of fighting over it. */
  readonly duckdbThreads: number;
  readonly duckdbMemoryLimit: string;
  /** Without INLET_DUCKDB_MEMORY_LIMIT: the megabytes the worker slots share, split among the slots running a task (worker/slot-memory.ts). */
  readonly duckdbMemoryBudgetMb: number | undefined;
  /** Object bytes an INDEX task converts at once: bounds DuckDB's working set whatever input_aggregation is. */
  readonly chunkBytes: number;
  /** The longest line (CSV or NDJSON record) read; a longer one is rejected with the reason. */
  readonly maxLineBytes: number;
  /** Partitions one INDEX task may write; a task whose rows would make more fails, naming the settings to raise. */
  readonly maxPartitionsPerTask: number;
  /** Attempts for reading one source object before its task fails. */
  readonly readAttempts: number;
  /** How long a sql_transform may run on one chunk of an INDEX task before the task fails. */
  readonly sqlTransformTimeoutSeconds: number;
  /** How long POST /validator may convert its sample before it is stopped. */
  readonly validatorTimeoutSeconds: number;
  /** How many times its size a compressed object may decode to (past 1 GiB decoded) before it is refused as a decompression bomb. */
  readonly maxDecodeRatio: number;
  /** Objects one listing request asks for (S3's MaxKeys); a LIST task commits its INDEX tasks and its resume point after each page. */
  readonly listPageSize: number;
  readonly logLevel: string;
  /** Where partitions are kept: a local directory (the default, `<data dir>/partitions`) or `s3://bucket/prefix/`. */
  readonly storageUrl: string;
  /** Partitions downloaded from object storage for queries, one directory per table. */
  readonly cacheDir: string;
  /** The cache's bound: least recently used files not read by a running query go past it. */
  readonly cacheBytes: number;
  /** How old an uncommitted attempt's files must be before the sweeper removes them. */
  readonly sweepGraceSeconds: number;
  /** Bearer token /metrics asks for; undefined leaves it open, as Prometheus scrapes usually are. */
  readonly metricsToken: string | undefined;
  /** Where a `--role worker` process serves its own /metrics; undefined serves none. */
  readonly metricsPort: number | undefined;
}

/** Each setting: its environment variable, CLI flag and default, so README and `--help` agree. */
export const SETTINGS = {
  host: { env: 'INLET_HOST', flag: '--host <host>', help: 'address to listen on', default: '0.0.0.0' },
  port: { env: 'INLET_PORT', flag: '--port <port>', help: 'HTTP port', default: '8080' },
  dataDir: { env: 'INLET_DATA_DIR', flag: '--data-dir <dir>', help: 'catalog, partitions and scratch files', default: './data' },
  databaseUrl: { env: 'INLET_DATABASE_URL', flag: '--database-url <url>', help: 'catalog: postgres://… (default: SQLite file in the data dir)', default: '' },
  databasePoolSize: { env: 'INLET_DATABASE_POOL_SIZE', flag: '--database-pool-size <n>', help: 'PostgreSQL connections per process (default: 10 for the API, worker slots + 2 for a worker process)', default: '' },
  role: { env: 'INLET_ROLE', flag: '--role <role>', help: 'all | api | worker', default: 'all' },
  adminEmail: { env: 'INLET_ADMIN_EMAIL', flag: '--admin-email <email>', help: 'admin created on first start', default: 'admin@localhost' },
  adminPassword: { env: 'INLET_ADMIN_PASSWORD', flag: '--admin-password <password>', help: 'admin password (generated and printed once if unset)', default: '' },
  workers: { env: 'INLET_WORKERS', flag: '--workers <n>', help: 'worker slots (tasks run at once in this process)', default: String(Math.max(1, cpus().length)) },
  fileRoots: { env: 'INLET_FILE_ROOTS', flag: '--file-roots <dirs>', help: 'comma-separated directories that file:// sources may read', default: '' },
  s3ForcePathStyle: { env: 'INLET_S3_FORCE_PATH_STYLE', flag: '--s3-force-path-style <bool>', help: 'path-style S3 addressing (default: on with a custom endpoint)', default: '' },
  leaseSeconds: { env: 'INLET_LEASE_SECONDS', flag: '--lease-seconds <s>', help: 'task lease; a silent worker loses its task after this', default: '30' },
  tokenTtlSeconds: { env: 'INLET_TOKEN_TTL_SECONDS', flag: '--token-ttl-seconds <s>', help: 'login token lifetime', default: '86400' },
  loginMaxFailures: { env: 'INLET_LOGIN_MAX_FAILURES', flag: '--login-max-failures <n>', help: 'failed logins per account within the window before its logins are refused', default: '10' },
  loginMaxFailuresPerAddress: {
    env: 'INLET_LOGIN_MAX_FAILURES_PER_ADDRESS',
    flag: '--login-max-failures-per-address <n>',
    help: 'failed logins per client address within the window before its logins are refused',
    default: '100',
  },
  secretKey: { env: 'INLET_SECRET_KEY', flag: '--secret-key <key>', help: 'key that encrypts source credentials in the catalog: 32 bytes as base64 (openssl rand -base64 32) or hex', default: '' },
  loginWindowSeconds: { env: 'INLET_LOGIN_WINDOW_SECONDS', flag: '--login-window-seconds <s>', help: 'window of the failed-login limits', default: '900' },
  pollIntervalMs: { env: 'INLET_POLL_INTERVAL_MS', flag: '--poll-interval-ms <ms>', help: 'how often idle workers look for tasks', default: '500' },
  statusCacheMs: { env: 'INLET_STATUS_CACHE_MS', flag: '--status-cache-ms <ms>', help: 'how long a polled job status is reused (commits made by this process show at once)', default: '250' },
  queryConcurrency: { env: 'INLET_QUERY_CONCURRENCY', flag: '--query-concurrency <n>', help: 'queries running at once (default: max(2, cores / DuckDB threads))', default: '' },
  queryOrgConcurrency: { env: 'INLET_QUERY_ORG_CONCURRENCY', flag: '--query-org-concurrency <n>', help: 'queries one org may run at once (default: one less than --query-concurrency, at least 1)', default: '' },
  queryQueue: { env: 'INLET_QUERY_QUEUE', flag: '--query-queue <n>', help: 'queries waiting for a slot, all orgs together (503 past it)', default: '256' },
  queryOrgQueue: { env: 'INLET_QUERY_ORG_QUEUE', flag: '--query-org-queue <n>', help: 'queries one org may have waiting (429 past it)', default: '64' },
  queryProcessMemoryMb: {
    env: 'INLET_QUERY_PROCESS_MEMORY_MB',
    flag: '--query-process-memory-mb <mib>',
    help: 'memory the query process may allocate (default: half the RAM, at most 4096)',
    default: String(Math.min(4096, Math.floor(totalmem() / 2 / 2 ** 20))),
  },
  duckdbThreads: { env: 'INLET_DUCKDB_THREADS', flag: '--duckdb-threads <n>', help: 'DuckDB threads per worker slot', default: '' },
  duckdbMemoryLimit: {
    env: 'INLET_DUCKDB_MEMORY_LIMIT',
    flag: '--duckdb-memory-limit <size>',
    help: 'DuckDB memory limit per worker slot and per query (default: per query 1GB / workers, at least 256MB; the worker slots share 1GB among those running a task)',
    default: '',
  },
  chunkBytes: { env: 'INLET_CHUNK_BYTES', flag: '--chunk-bytes <bytes>', help: 'object bytes an INDEX task converts and writes at once (the next chunk downloads meanwhile)', default: String(32 * 1024 * 1024) },
  maxLineBytes: { env: 'INLET_MAX_LINE_BYTES', flag: '--max-line-bytes <bytes>', help: 'longest line (CSV or NDJSON record) read; longer lines are rejected', default: String(DEFAULT_MAX_LINE_BYTES) },
  maxPartitionsPerTask: {
    env: 'INLET_MAX_PARTITIONS_PER_TASK',
    flag: '--max-partitions-per-task <n>',
    help: 'partitions one INDEX task may write; a task whose rows would make more (years of data in 15-minute windows, a row cap of a few rows) fails and says which job setting to raise',
    default: '100000',
  },
  readAttempts: { env: 'INLET_READ_ATTEMPTS', flag: '--read-attempts <n>', help: 'attempts to read one source object', default: '3' },
  sqlTransformTimeoutSeconds: {
    env: 'INLET_SQL_TRANSFORM_TIMEOUT_SECONDS',
    flag: '--sql-transform-timeout-seconds <s>',
    help: "how long a table's sql_transform may run on one chunk of an INDEX task before the task fails",
    default: '300',
  },
  validatorTimeoutSeconds: { env: 'INLET_VALIDATOR_TIMEOUT_SECONDS', flag: '--validator-timeout-seconds <s>', help: 'how long POST /validator may convert its sample before it is stopped', default: '30' },
  maxDecodeRatio: {
    env: 'INLET_MAX_DECODE_RATIO',
    flag: '--max-decode-ratio <n>',
    help: 'decoded bytes over compressed bytes past which an object (once over 1 GiB decoded) is refused as a decompression bomb',
    default: '200',
  },
  listPageSize: { env: 'INLET_LIST_PAGE_SIZE', flag: '--list-page-size <n>', help: 'objects per listing request (1-1000); a listing commits its INDEX tasks and where it got to after each', default: '1000' },
  logLevel: { env: 'INLET_LOG_LEVEL', flag: '--log-level <level>', help: 'fatal | error | warn | info | debug', default: 'info' },
  storageUrl: { env: 'INLET_STORAGE_URL', flag: '--storage-url <url>', help: 'partition storage: a local directory or s3://bucket/prefix/ (default: <data dir>/partitions)', default: '' },
  cacheDir: { env: 'INLET_CACHE_DIR', flag: '--cache-dir <dir>', help: 'local cache of partitions read from object storage (default: <data dir>/cache)', default: '' },
  cacheBytes: { env: 'INLET_CACHE_BYTES', flag: '--cache-bytes <bytes>', help: 'bound of the partition cache', default: String(10 * 1024 ** 3) },
  sweepGraceSeconds: { env: 'INLET_SWEEP_GRACE_SECONDS', flag: '--sweep-grace-seconds <s>', help: 'age before files of attempts that never committed are removed', default: '900' },
  metricsPort: { env: 'INLET_METRICS_PORT', flag: '--metrics-port <port>', help: 'port on which a --role worker process serves GET /metrics (default: none; API processes serve it on their own port)', default: '' },
  metricsToken: { env: 'INLET_METRICS_TOKEN', flag: '--metrics-token <token>', help: 'bearer token that GET /metrics requires (default: /metrics is open)', default: '' },
} as const satisfies Record<Exclude<keyof Config, 's3Endpoint' | 's3Region' | 'duckdbMemoryBudgetMb'>, { env: string; flag: string; help: string; default: string }>;

const MAX_LINE_BYTES_LIMIT = 256 * 1024 * 1024;

export type RawSettings = Partial<Record<keyof Config, string | undefined>>;

/** Environment first, then explicit overrides (CLI flags or test options), then defaults. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: RawSettings = {}): Config {
  const raw = (key: keyof typeof SETTINGS): string => {
    const value = overrides[key] ?? env[SETTINGS[key].env];
    return value === undefined || value === '' ? SETTINGS[key].default : value;
  };
  const int = (key: keyof typeof SETTINGS, min: number): number => {
    const text = raw(key);
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) {
      throw new ValidationError(`${SETTINGS[key].env}=${JSON.stringify(text)} is not valid: use a whole number >= ${min}`);
    }
    return value;
  };
  const role = raw('role');
  if (role !== 'all' && role !== 'api' && role !== 'worker') {
    throw new ValidationError(`${SETTINGS.role.env}=${JSON.stringify(role)} is not valid: use all, api or worker`);
  }
  const pathStyle = raw('s3ForcePathStyle');
  if (pathStyle !== '' && !['true', 'false', '1', '0'].includes(pathStyle)) {
    throw new ValidationError(`${SETTINGS.s3ForcePathStyle.env}=${JSON.stringify(pathStyle)} is not valid: use true or false`);
  }
  const dataDir = path.resolve(raw('dataDir'));
  const workers = int('workers', 0);
  // Unless set, DuckDB's memory: 1 GB for the worker slots together, at least 256 MB each.
  const slotShareMb = Math.max(256, Math.floor(1024 / Math.max(1, workers)));
  const threadsText = raw('duckdbThreads');
  const maxLineBytes = int('maxLineBytes', 1);
  // DuckDB's read buffer is a few times the longest line, per file read at once.
  if (maxLineBytes > MAX_LINE_BYTES_LIMIT) {
    throw new ValidationError(`${SETTINGS.maxLineBytes.env}=${maxLineBytes} is not valid: use at most ${MAX_LINE_BYTES_LIMIT} (256 MiB)`);
  }
  // Queries together use about as many threads as the machine has cores, as ingestion does:
  // under load each side keeps roughly half the CPU instead of one starving the other.
  const queryConcurrency = raw('queryConcurrency') ? int('queryConcurrency', 1) : Math.max(2, Math.ceil(cpus().length / (threadsText ? int('duckdbThreads', 1) : cpus().length)));
  const secretKey = raw('secretKey') || undefined;
  if (secretKey !== undefined && !secretKeyBytes(secretKey)) {
    throw new ValidationError(`${SETTINGS.secretKey.env} is not 32 bytes as base64 or hex (it has ${secretKey.length} characters): generate one with "openssl rand -base64 32"`);
  }
  return Object.freeze({
    host: raw('host'),
    port: int('port', 0),
    dataDir,
    databaseUrl: raw('databaseUrl') || `sqlite://${path.join(dataDir, 'catalog.sqlite')}`,
    databasePoolSize: raw('databasePoolSize') ? int('databasePoolSize', 1) : undefined,
    role,
    adminEmail: raw('adminEmail'),
    adminPassword: raw('adminPassword') || undefined,
    workers,
    fileRoots: Object.freeze(
      raw('fileRoots')
        .split(',')
        .map((root) => root.trim())
        .filter(Boolean)
        .map((root) => path.resolve(root)),
    ),
    s3ForcePathStyle: pathStyle === '' ? undefined : pathStyle === 'true' || pathStyle === '1',
    s3Endpoint: overrides.s3Endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    s3Region: overrides.s3Region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    leaseSeconds: int('leaseSeconds', 1),
    tokenTtlSeconds: int('tokenTtlSeconds', 1),
    loginMaxFailures: int('loginMaxFailures', 1),
    loginMaxFailuresPerAddress: int('loginMaxFailuresPerAddress', 1),
    loginWindowSeconds: int('loginWindowSeconds', 1),
    secretKey,
    pollIntervalMs: int('pollIntervalMs', 10),
    statusCacheMs: int('statusCacheMs', 0),
    queryConcurrency,
    // One org cannot take every slot: another org's query always finds one.
    queryOrgConcurrency: raw('queryOrgConcurrency') ? int('queryOrgConcurrency', 1) : Math.max(1, queryConcurrency - 1),
    queryQueue: int('queryQueue', 0),
    queryOrgQueue: int('queryOrgQueue', 0),
    queryProcessMemoryMb: int('queryProcessMemoryMb', 256),
    // Every core per slot: a job runs one INDEX task at a time by default (input_concurrency 1),
    // and slots that do overlap share the cores through the OS.
    duckdbThreads: threadsText ? int('duckdbThreads', 1) : cpus().length,
    // DuckDB spills past its limit, so one budget shared by the slots bounds the process whatever the input size.
    duckdbMemoryLimit: raw('duckdbMemoryLimit') || `${slotShareMb}MB`,
    duckdbMemoryBudgetMb: raw('duckdbMemoryLimit') ? undefined : slotShareMb * Math.max(1, workers),
    chunkBytes: int('chunkBytes', 1),
    maxLineBytes,
    maxPartitionsPerTask: int('maxPartitionsPerTask', 1),
    readAttempts: int('readAttempts', 1),
    maxDecodeRatio: int('maxDecodeRatio', 1),
    validatorTimeoutSeconds: int('validatorTimeoutSeconds', 1),
    sqlTransformTimeoutSeconds: int('sqlTransformTimeoutSeconds', 1),
    listPageSize: listPageSize(int('listPageSize', 1)),
    logLevel: raw('logLevel'),
    storageUrl: parseStorageUrl(raw('storageUrl') || path.join(dataDir, 'partitions')),
    cacheDir: path.resolve(raw('cacheDir') || path.join(dataDir, 'cache')),
    cacheBytes: int('cacheBytes', 1),
    sweepGraceSeconds: int('sweepGraceSeconds', 0),
    metricsToken: raw('metricsToken') || undefined,
    metricsPort: raw('metricsPort') ? int('metricsPort', 0) : undefined,
  });
}

/** The API's handlers share their connections; each is held for one short statement or transaction. */
const API_POOL_SIZE = 10;

/**
 * Connections one process opens to PostgreSQL at most. A worker slot runs one statement or
 * transaction at a time, and its heartbeat one more now and then; the reaper and sweeper take
 * the rest. N worker processes of S slots thus need N x (S + 2) connections, not N x 10.
 */
export function catalogPoolSize(config: Pick<Config, 'databasePoolSize' | 'workers'>, part: 'api' | 'worker'): number {
  return config.databasePoolSize ?? (part === 'worker' ? config.workers + 2 : API_POOL_SIZE);
}

/** S3 answers at most 1000 keys a request, whatever is asked. */
const MAX_LIST_PAGE_SIZE = 1000;

function listPageSize(value: number): number {
  if (value > MAX_LIST_PAGE_SIZE) throw new ValidationError(`${SETTINGS.listPageSize.env}=${value} is not valid: use 1 to ${MAX_LIST_PAGE_SIZE} (S3 lists at most ${MAX_LIST_PAGE_SIZE} keys a request)`);
  return value;
}

/** A local directory (made absolute) or `s3://bucket/prefix/` (the prefix ending in "/"). */
function parseStorageUrl(text: string): string {
  const fail = (why: string) => new ValidationError(`${SETTINGS.storageUrl.env}=${JSON.stringify(text)} is not valid: ${why}`);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return path.resolve(text);
  if (!text.startsWith('s3://')) throw fail('use a local directory or s3://bucket/prefix/');
  const [bucket = '', ...rest] = text.slice('s3://'.length).split('/');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw fail(`"${bucket}" is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`);
  const prefix = rest.filter(Boolean).join('/');
  if (prefix.split('/').some((part) => part === '.' || part === '..')) throw fail('the prefix may not contain "." or ".." segments');
  return `s3://${bucket}/${prefix ? `${prefix}/` : ''}`;
}
