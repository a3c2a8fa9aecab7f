import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Request } from './request.js';
import type { TraceFormat } from './trace-format.js';
import { readJsonArray } from './json-array.js';
import { RecordReader } from './records.js';
import { answerTokens, concatIds, encodePrompt, encodeText } from './tokenizer.js';
import { UserError, located } from '../util/errors.js';

/**
 * BIRD text-to-SQL: `dev.json` (`question_id, db_id, question, evidence, SQL`) with the schema file
 * beside it (`dev_tables.json`: the name with `_tables` before `.json`) and, when present,
 * `column_meaning.json` (`"db|table|column": "# description"`). A prompt is the rendered schema of
 * its database (byte-identical for every question of that database, so it is a shared prefix),
 * then the evidence and the question; the output length is the gold SQL's token count.
 */
interface Schema {
  db_id: string;
  table_names_original: string[];
  column_names_original: [number, string][];
  column_types: string[];
  primary_keys: (number | number[])[];
  foreign_keys: [number, number][];
}

export const BIRD_INSTRUCTION = 'You are a SQLite expert. Given the database schema below, write one SQLite query that answers the question.\n\n';

export function birdCompanions(questionsPath: string): { tables: string; meanings: string } {
  const dir = dirname(questionsPath);
  const stem = basename(questionsPath).replace(/\.json$/i, '');
  return { tables: join(dir, `${stem}_tables.json`), meanings: join(dir, 'column_meaning.json') };
}

function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

function loadSchemas(path: string): Map<string, Schema> {
  const raw = readJsonFile(path);
  if (!Array.isArray(raw)) throw new UserError(`${path}: expected a JSON array of database schemas`);
  const out = new Map<string, Schema>();
  raw.forEach((s, i) => {
    const r = new RecordReader(path, 1, i, s);
    const o = r.object();
    r.string(o, 'db_id');
    for (const f of ['table_names_original', 'column_names_original', 'column_types', 'primary_keys', 'foreign_keys']) r.array(o, f);
    const schema = o as unknown as Schema;
    if (schema.column_types.length !== schema.column_names_original.length) {
      r.fail('column_types', `${schema.column_names_original.length} entries (one per column)`, schema.column_types.length);
    }
    out.set(schema.db_id, schema);
  });
  return out;
}

function loadMeanings(path: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(path)) return out;
  const raw = readJsonFile(path);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${path}: expected an object of "db|table|column": description`);
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new UserError(`${path}: field "${k}": expected a string, got ${JSON.stringify(v)?.slice(0, 60)}`);
    // Descriptions come as "# 'text'" or "#text": keep the text only.
    out.set(k.toLowerCase(), v.replace(/^#\s*/, '').replace(/^'(.*)'$/s, '$1').replace(/\s+/g, ' ').trim());
  }
  return out;
}

/** `CREATE TABLE` statements of one database, with column descriptions as SQL comments. */
export function renderSchema(s: Schema, meanings: Map<string, string>): string {
  const pk = new Set(s.primary_keys.flatMap((k) => (Array.isArray(k) ? k : [k])));
  const fk = new Map(s.foreign_keys.map(([from, to]) => [from, to]));
  const lines: string[] = [`-- Database: ${s.db_id}`];
  s.table_names_original.forEach((table, t) => {
    lines.push(`CREATE TABLE \`${table}\` (`);
    const cols: string[] = [];
    s.column_names_original.forEach(([owner, col], c) => {
      if (owner !== t) return;
      let def = `  \`${col}\` ${s.column_types[c].toUpperCase()}`;
      if (pk.has(c)) def += ' PRIMARY KEY';
      const ref = fk.get(c);
      if (ref !== undefined && s.column_names_original[ref]) {
        const [refTable, refCol] = s.column_names_original[ref];
        def += ` REFERENCES \`${s.table_names_original[refTable]}\`(\`${refCol}\`)`;
      }
      const meaning = meanings.get(`${s.db_id}|${table}|${col}`.toLowerCase());
      cols.push(meaning ? `${def}, -- ${meaning}` : `${def},`);
    });
    if (cols.length > 0) cols[cols.length - 1] = cols[cols.length - 1].replace(/,( -- |$)/, '$1');
    lines.push(...cols, ');');
  });
  return `${lines.join('\n')}\n\n`;
}

async function* birdRequests(path: string): AsyncGenerator<Request> {
  const companions = birdCompanions(path);
  if (!existsSync(companions.tables)) {
    throw new UserError(`${path}: BIRD questions need their schema file ${companions.tables} beside them`);
  }
  const schemas = loadSchemas(companions.tables);
  const meanings = loadMeanings(companions.meanings);
  const prefixes = new Map<string, { text: string; ids: Uint32Array }>();
  for await (const { value, index, line } of readJsonArray(path)) {
    const r = new RecordReader(path, line, index, value);
    const o = r.object();
    const db = r.string(o, 'db_id');
    const schema = schemas.get(db);
    if (!schema) throw located(path, line, `record ${index}, field "db_id": "${db}" is not in ${companions.tables}`);
    let prefix = prefixes.get(db);
    if (!prefix) {
      const text = BIRD_INSTRUCTION + renderSchema(schema, meanings);
      prefix = { text, ids: encodePrompt(text) };
      prefixes.set(db, prefix);
    }
    const evidence = r.optString(o, 'evidence') ?? '';
    const question = r.string(o, 'question');
    const sql = r.string(o, 'SQL');
    // The schema ends in "\n\n" and the tail starts with a letter, so encoding the two apart
    // gives the same ids as encoding the whole prompt.
    const tail = `${evidence.trim() ? `External knowledge: ${evidence.trim()}\n` : ''}Question: ${question.trim()}\nSQL:`;
    const ids = concatIds(prefix.ids, encodeText(tail));
    yield {
      id: `bird-${r.optString(o, 'question_id') ?? index}`,
      arrivalS: 0,
      inputTokens: ids.length,
      outputTokens: answerTokens(sql),
      prefix: { kind: 'tokens', ids },
      text: prefix.text + tail,
    };
  }
}

export const birdFormat: TraceFormat = {
  name: 'bird',
  description: 'BIRD text-to-SQL questions (dev.json + dev_tables.json [+ column_meaning.json] beside it)',
  untimed: true,
  detect: (head) => /^\s*(\ufeff)?\s*\[/.test(head) && /"db_id"\s*:/.test(head) && /"question"\s*:/.test(head),
  read: birdRequests,
};
