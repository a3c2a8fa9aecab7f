/**
 * A strict parser for the Prometheus text exposition format (version 0.0.4), the format of
 * vLLM's and SGLang's `/metrics`. Strict because it serves two purposes: scraping engines, and
 * proving in tests that what the mock worker exposes is well formed (histogram buckets
 * cumulative and ending at +Inf = _count, sample names matching their declared family, ...).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  /** Full sample name, e.g. `vllm:e2e_request_latency_seconds_bucket`. */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: PromSample[];
}

export class PromParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'PromParseError';
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(raw: string, line: number): number {
  if (raw === 'NaN') return NaN;
  if (raw === '+Inf' || raw === 'Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) throw new PromParseError(line, `bad sample value "${raw}"`);
  return Number(raw);
}

function unescapeHelp(s: string): string {
  return s.replace(/\\([\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Parses `{a="x",b="y"}` starting at `s[i] === '{'`; returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    while (s[i] === ' ') i++;
    if (s[i] === '}') return [labels, i + 1];
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new PromParseError(line, 'label without "="');
    const name = s.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) throw new PromParseError(line, `bad label name "${name}"`);
    if (name in labels) throw new PromParseError(line, `label "${name}" given twice`);
    i = eq + 1;
    if (s[i] !== '"') throw new PromParseError(line, `label "${name}": value must be quoted`);
    i++;
    let value = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new PromParseError(line, `label "${name}": unterminated value`);
      if (c === '"') break;
      if (c === '\\') {
        const n = s[i + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new PromParseError(line, `label "${name}": bad escape "\\${n ?? ''}"`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    labels[name] = value;
    i++;
    while (s[i] === ' ') i++;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new PromParseError(line, `expected "," or "}" after label "${name}"`);
  }
}

/** Which family a sample name belongs to, given the family most recently declared. */
function belongsTo(sample: string, fam: PromFamily): boolean {
  if (sample === fam.name) return fam.type !== 'histogram';
  const suffix = sample.startsWith(fam.name) ? sample.slice(fam.name.length) : '';
  if (fam.type === 'histogram') return suffix === '_bucket' || suffix === '_sum' || suffix === '_count' || suffix === '_created';
  if (fam.type === 'summary') return suffix === '_sum' || suffix === '_count' || suffix === '_created';
  if (fam.type === 'counter') return suffix === '_total' || suffix === '_created';
  return false;
}

export function parsePrometheusText(text: string): PromFamily[] {
  const families: PromFamily[] = [];
  const byName = new Map<string, PromFamily>();
  let current: PromFamily | undefined;
  const family = (name: string, line: number): PromFamily => {
    let f = byName.get(name);
    if (!f) {
      f = { name, type: 'untyped', samples: [] };
      byName.set(name, f);
      families.push(f);
    } else if (f !== current) {
      throw new PromParseError(line, `metric family "${name}" is split into two groups`);
    }
    return f;
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const line = lines[n].replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      const name = m[2];
      if (!METRIC_NAME.test(name)) throw new PromParseError(lineNo, `bad metric name "${name}"`);
      const f = byName.get(name) ?? family(name, lineNo);
      if (f !== current && f.samples.length > 0) throw new PromParseError(lineNo, `metric family "${name}" is split into two groups`);
      current = f;
      if (m[1] === 'HELP') {
        if (f.help !== undefined) throw new PromParseError(lineNo, `second HELP for "${name}"`);
        f.help = unescapeHelp(m[3] ?? '');
      } else {
        const t = (m[3] ?? '').trim() as MetricType;
        if (!TYPES.has(t)) throw new PromParseError(lineNo, `unknown type "${m[3] ?? ''}" for "${name}"`);
        if (f.samples.length > 0) throw new PromParseError(lineNo, `TYPE for "${name}" after its samples`);
        f.type = t;
      }
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new PromParseError(lineNo, `expected a metric name, got "${line.slice(0, 40)}"`);
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, lineNo);
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest[0] === '' || rest.length > 2) throw new PromParseError(lineNo, `expected "value [timestamp]" after ${name}`);
    const sample: PromSample = { name, labels, value: parseValue(rest[0], lineNo) };
    if (rest.length === 2) {
      if (!/^-?\d+$/.test(rest[1])) throw new PromParseError(lineNo, `bad timestamp "${rest[1]}"`);
      sample.timestampMs = Number(rest[1]);
    }
    const fam = current && belongsTo(name, current) ? current : family(name, lineNo);
    current = fam;
    fam.samples.push(sample);
  }
  for (const f of families) checkFamily(f);
  return families;
}

function labelKey(labels: Record<string, string>, without: string): string {
  return Object.keys(labels)
    .filter((k) => k !== without)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** Histogram invariants: every series has buckets with `le`, cumulative, ending at +Inf = _count. */
function checkFamily(f: PromFamily): void {
  if (f.type !== 'histogram') return;
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  const get = (k: string): { buckets: [number, number][]; count?: number; sum?: number } => {
    let s = series.get(k);
    if (!s) series.set(k, (s = { buckets: [] }));
    return s;
  };
  for (const s of f.samples) {
    if (s.name.endsWith('_bucket')) {
      const le = s.labels.le;
      if (le === undefined) throw new PromParseError(0, `${s.name}: bucket without "le"`);
      get(labelKey(s.labels, 'le')).buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name.endsWith('_count')) get(labelKey(s.labels, '')).count = s.value;
    else if (s.name.endsWith('_sum')) get(labelKey(s.labels, '')).sum = s.value;
  }
  for (const [k, s] of series) {
    const where = `${f.name}{${k}}`;
    if (s.buckets.length === 0) throw new PromParseError(0, `${where}: histogram without buckets`);
    for (let i = 1; i < s.buckets.length; i++) {
      if (!(s.buckets[i][0] > s.buckets[i - 1][0])) throw new PromParseError(0, `${where}: bucket bounds not increasing`);
      if (s.buckets[i][1] < s.buckets[i - 1][1]) throw new PromParseError(0, `${where}: bucket counts not cumulative`);
    }
    const last = s.buckets[s.buckets.length - 1];
    if (last[0] !== Infinity) throw new PromParseError(0, `${where}: no +Inf bucket`);
    if (s.count === undefined || s.count !== last[1]) throw new PromParseError(0, `${where}: _count ${s.count} differs from the +Inf bucket ${last[1]}`);
    if (s.sum === undefined) throw new PromParseError(0, `${where}: no _sum`);
  }
}

/** All samples with this exact name (across families), optionally filtered by label values. */
export function findSamples(families: readonly PromFamily[], name: string, labels: Record<string, string> = {}): PromSample[] {
  const out: PromSample[] = [];
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) out.push(s);
    }
  }
  return out;
}

/** Sum of the samples with this name (e.g. over engines), or undefined when there is none. */
export function sampleSum(families: readonly PromFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = findSamples(families, name, labels);
  return s.length === 0 ? undefined : s.reduce((a, x) => a + x.value, 0);
}
