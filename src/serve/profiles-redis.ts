import { Redis } from 'ioredis';
import { DEFAULTS } from '../defaults.js';
import { parseModelGpuProfile, parseProfileText, ProfileTable, profileJson, type ModelGpuProfileJson } from '../routing/slo/profile.js';
import { UserError } from '../util/errors.js';

/** AIBrix's key prefix (pkg/cache/cache_profile.go): `aibrix:profile_<model>_<deployment>`. */
export const AIBRIX_PROFILE_PREFIX = 'aibrix:profile_';

/** The key AIBrix reads a deployment's profile from. */
export function aibrixProfileKey(model: string, deployment: string): string {
  return `${AIBRIX_PROFILE_PREFIX}${model}_${deployment}`;
}

/** A Redis URL as ioredis takes it; a one-line UserError naming the flag otherwise. */
export function checkRedisUrl(raw: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UserError(`${flag}: "${raw}" is not a URL (expected redis://host:port[/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UserError(`${flag}: "${raw}" must be redis:// or rediss://`);
  return raw;
}

function connect(url: string): Redis {
  // No endless reconnect loop on a wrong address: a few tries, then the command fails.
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, retryStrategy: (n) => (n > 5 ? null : Math.min(1000, n * 200)) });
}

/** `router profile export-aibrix --redis URL`: writes each profile under AIBrix's key. */
export async function writeProfilesToRedis(url: string, profiles: readonly { model: string; profile: ModelGpuProfileJson }[]): Promise<string[]> {
  const r = connect(url);
  try {
    await r.connect();
    const keys: string[] = [];
    for (const p of profiles) {
      const key = aibrixProfileKey(p.model, p.profile.gpu);
      await r.set(key, profileJson(p.profile).trimEnd());
      keys.push(key);
    }
    return keys;
  } catch (err) {
    throw new UserError(`--redis ${url}: ${(err as Error).message}`);
  } finally {
    r.disconnect();
  }
}

export interface RedisProfileOptions {
  url: string;
  /** Rescan period; AIBrix's gateway rescans every 10 s. */
  pollIntervalMs: number;
  /** The current usable tables, oldest `created` first (so the newest wins a deployment). */
  onTables: (tables: ProfileTable[]) => void;
  /** A problem worth one line on stderr (malformed key, lost connection); never thrown. */
  onProblem: (line: string) => void;
}

/**
 * AIBrix profiles as the AIBrix gateway reads them: every `aibrix:profile_*` key holds one
 * ModelGPUProfile JSON, matched to workers by its `gpu` field (the deployment name). Reloads
 * twice over: on Redis keyspace notifications for those keys (enabled with CONFIG SET when the
 * server allows it), and by rescanning every `pollIntervalMs` as AIBrix does, which also covers
 * a server where notifications cannot be turned on. A malformed value is reported once with its
 * key and field and ignored; the other keys still load.
 */
export class RedisProfileSource {
  private readonly cmd: Redis;
  private sub?: Redis;
  private timer?: NodeJS.Timeout;
  private readonly tables = new Map<string, { raw: string; table: ProfileTable }>();
  private readonly reported = new Map<string, string>();
  private loading: Promise<void> = Promise.resolve();
  private stopped = false;
  /** How changes are noticed: 'notifications+polling' or 'polling'. */
  mode: 'notifications+polling' | 'polling' = 'polling';
  /** Completed loads (tests wait on it). */
  loads = 0;

  constructor(private readonly o: RedisProfileOptions) {
    this.cmd = connect(o.url);
    this.cmd.on('error', () => undefined);
  }

  /** Connects and loads once; a server that cannot be reached is a UserError (serve exits 2). */
  async start(): Promise<void> {
    try {
      await this.cmd.connect();
    } catch (err) {
      this.cmd.disconnect();
      throw new UserError(`--profiles-redis ${this.o.url}: cannot connect (${(err as Error).message})`);
    }
    await this.reload();
    await this.subscribe();
    this.timer = setInterval(() => void this.reload(), this.o.pollIntervalMs);
    this.timer.unref();
  }

  private async subscribe(): Promise<void> {
    try {
      const cur = await this.cmd.config('GET', 'notify-keyspace-events');
      const flags = cur[1] ?? '';
      // K = keyspace channel, $ = string commands (SET), g = generic ones (DEL, RENAME); A = all classes.
      const want = flags + (flags.includes('K') ? '' : 'K') + (/[$A]/.test(flags) ? '' : '$') + (/[gA]/.test(flags) ? '' : 'g');
      if (want !== flags) await this.cmd.config('SET', 'notify-keyspace-events', want);
      const db = this.cmd.options.db ?? 0;
      const sub = this.cmd.duplicate();
      sub.on('error', () => undefined);
      await sub.psubscribe(`__keyspace@${db}__:${AIBRIX_PROFILE_PREFIX}*`);
      sub.on('pmessage', () => void this.reload());
      this.sub = sub;
      this.mode = 'notifications+polling';
    } catch (err) {
      this.o.onProblem(`Redis keyspace notifications unavailable (${(err as Error).message}); rescanning ${this.o.url} every ${this.o.pollIntervalMs / 1000} s`);
    }
  }

  /** Rescans every profile key; loads are serialised so a burst of notifications cannot interleave. */
  reload(): Promise<void> {
    this.loading = this.loading.then(() => this.load()).catch((err: unknown) => {
      if (!this.stopped) this.o.onProblem(`reading profiles from ${this.o.url} failed (${err instanceof Error ? err.message : String(err)}); keeping the last ones`);
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    if (this.stopped) return;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.cmd.scan(cursor, 'MATCH', `${AIBRIX_PROFILE_PREFIX}*`, 'COUNT', 100);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    keys.sort();
    const values = keys.length > 0 ? await this.cmd.mget(...keys) : [];
    const seen = new Set<string>();
    let changed = false;
    keys.forEach((key, i) => {
      const raw = values[i];
      if (raw === null || raw === undefined) return;
      seen.add(key);
      if (this.tables.get(key)?.raw === raw) return;
      try {
        const json = parseModelGpuProfile(parseProfileText(raw, `Redis key ${key}`), `Redis key ${key}`);
        this.tables.set(key, { raw, table: new ProfileTable(json) });
        this.reported.delete(key);
        changed = true;
      } catch (err) {
        if (this.tables.delete(key)) changed = true;
        const msg = (err as Error).message;
        if (this.reported.get(key) !== raw) this.o.onProblem(`ignoring ${msg}`);
        this.reported.set(key, raw);
      }
    });
    for (const key of [...this.tables.keys()]) {
      if (!seen.has(key)) {
        this.tables.delete(key);
        changed = true;
      }
    }
    this.loads++;
    if (changed || this.loads === 1) this.o.onTables(this.current());
  }

  /** Usable tables, oldest first by `created` (then key), so the newest of a deployment wins. */
  current(): ProfileTable[] {
    return [...this.tables.entries()].sort(([ka, a], [kb, b]) => a.table.json.created - b.table.json.created || (ka < kb ? -1 : ka > kb ? 1 : 0)).map(([, v]) => v.table);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.loading;
    this.sub?.disconnect();
    this.cmd.disconnect();
  }
}

/**
 * `serve --profiles-redis URL`: loads the profiles once (a server that cannot be reached stops
 * serve with one line), then keeps `app`'s workers matched to the current ones; Redis tables win
 * over `base` (derived and --slo-profile tables).
 */
export async function startRedisProfiles(app: { setSloTables(t: readonly ProfileTable[]): void }, url: string, base: readonly ProfileTable[], log: (line: string) => void): Promise<RedisProfileSource> {
  const src = new RedisProfileSource({
    url,
    pollIntervalMs: DEFAULTS.serve.profilesRedisPollS * 1000,
    onTables: (tables) => {
      app.setSloTables([...base, ...tables]);
      log(`SLO profiles from Redis: ${tables.length === 0 ? 'none' : tables.map((t) => t.deployment).join(', ')}`);
    },
    onProblem: (line) => log(line),
  });
  await src.start();
  log(`watching ${url} for ${AIBRIX_PROFILE_PREFIX}* keys (${src.mode})`);
  return src;
}
