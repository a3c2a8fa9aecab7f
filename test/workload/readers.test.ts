import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectFormat } from '../../src/workload/trace.js';
import type { Request } from '../../src/workload/request.js';
import { encodePrompt, encodeText } from '../../src/workload/tokenizer.js';
import { parseAzureTimestamp } from '../../src/workload/azure-csv.js';
import { UserError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'router-readers-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

async function read(path: string, format?: string): Promise<Request[]> {
  const out: Request[] = [];
  for await (const r of detectFormat(path, format).read(path)) out.push(r);
  return out;
}

async function rejects(path: string, format: string | undefined, pattern: RegExp): Promise<void> {
  await assert.rejects(read(path, format), (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const sharegpt = JSON.stringify([
  { id: 'a', conversations: [{ from: 'human', value: 'Hello there' }, { from: 'gpt', value: 'Hi! How can I help?' }, { from: 'human', value: 'Tell me a joke' }, { from: 'gpt', value: 'No.' }] },
  { id: 'b', conversations: [{ from: 'gpt', value: 'starts with gpt' }, { from: 'human', value: 'x' }] },
  { id: 'c', conversations: [{ from: 'human', value: 'only one turn' }] },
  { id: 'd', conversations: [{ from: 'system', value: 'Be brief.' }, { from: 'human', value: 'Why?' }, { from: 'gpt', value: 'Because.' }] },
  { id: 'e', conversations: [{ from: 'human', value: 'A {"tricky": [string]} \\" with brackets' }, { from: 'gpt', value: 'ok' }] },
], null, 1);

test('ShareGPT single-turn keeps records that start human → gpt, counts tokens as vLLM does', async () => {
  const p = file('sg.json', sharegpt);
  assert.equal(detectFormat(p).name, 'sharegpt');
  const rs = await read(p);
  assert.deepEqual(rs.map((r) => r.id), ['a', 'e']);
  assert.equal(rs[0].inputTokens, encodeText('Hello there').length + 1);
  assert.equal(rs[0].outputTokens, encodeText('Hi! How can I help?').length + 1);
  assert.deepEqual(Array.from((rs[0].prefix as { ids: ArrayLike<number> }).ids), Array.from(encodePrompt('Hello there')));
  assert.equal(rs[1].text, 'A {"tricky": [string]} \\" with brackets');
});

test('ShareGPT multi-turn: each turn re-sends the history, so it starts with the previous prompt', async () => {
  const p = file('sg2.json', sharegpt);
  const rs = await read(p, 'sharegpt-multi');
  assert.deepEqual(rs.map((r) => r.id), ['a#0', 'a#1', 'd#0', 'e#0']);
  assert.deepEqual(rs.map((r) => r.sessionId), ['a', 'a', 'd', 'e']);
  const t0 = Array.from((rs[0].prefix as { ids: ArrayLike<number> }).ids);
  const t1 = Array.from((rs[1].prefix as { ids: ArrayLike<number> }).ids);
  assert.ok(t1.length > t0.length + encodeText('Hi! How can I help?').length);
  assert.deepEqual(t1.slice(0, t0.length), t0);
  assert.equal(rs[1].outputTokens, encodeText('No.').length + 1);
});

test('ShareGPT: a malformed record names the file, line, record index and field', async () => {
  const p = file('bad-sg.json', '[\n{"id":"a","conversations":[{"from":"human","value":"q"},{"from":"gpt","value":"a"}]},\n{"id":"b","conversations":[{"from":"human","value":7}]}\n]');
  await rejects(p, 'sharegpt', /bad-sg\.json:3: record 1, field "conversations\[0\]\.value": expected a string, got 7/);
  const role = file('role-sg.json', '[{"id":"a","conversations":[{"from":"robot","value":"q"}]}]');
  await rejects(role, 'sharegpt', /role-sg\.json:1: record 0, field "conversations\[0\]\.from": expected one of human\/user\/gpt/);
  const q = file('trunc-sg.json', '[{"id":"a","conversations":[{"from":"human","value":"q"}');
  await rejects(q, 'sharegpt', /trunc-sg\.json:1: record 0: the file ends inside the top-level array/);
});

function birdFiles(sub: string): string {
  const tables = [
    {
      db_id: 'shop',
      table_names_original: ['customers', 'orders'],
      table_names: ['customers', 'orders'],
      column_names_original: [[-1, '*'], [0, 'id'], [0, 'name'], [1, 'id'], [1, 'customer_id'], [1, 'total']],
      column_names: [[-1, '*'], [0, 'id'], [0, 'name'], [1, 'id'], [1, 'customer id'], [1, 'total']],
      column_types: ['text', 'integer', 'text', 'integer', 'integer', 'real'],
      primary_keys: [1, 3],
      foreign_keys: [[4, 1]],
    },
    {
      db_id: 'zoo',
      table_names_original: ['animals'],
      table_names: ['animals'],
      column_names_original: [[-1, '*'], [0, 'name']],
      column_names: [[-1, '*'], [0, 'name']],
      column_types: ['text', 'text'],
      primary_keys: [],
      foreign_keys: [],
    },
  ];
  const questions = [
    { question_id: 0, db_id: 'shop', question: 'How many customers?', evidence: '', SQL: 'SELECT COUNT(*) FROM customers', difficulty: 'simple' },
    { question_id: 1, db_id: 'zoo', question: 'List animals.', evidence: 'animals are rows', SQL: 'SELECT name FROM animals', difficulty: 'simple' },
    { question_id: 2, db_id: 'shop', question: 'Largest order?', evidence: 'largest = max total', SQL: 'SELECT MAX(total) FROM orders', difficulty: 'simple' },
  ];
  const d = join(dir, sub);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  writeFileSync(join(d, 'dev_tables.json'), JSON.stringify(tables));
  writeFileSync(join(d, 'column_meaning.json'), JSON.stringify({ 'shop|orders|total': "# 'Order total in EUR.'" }));
  writeFileSync(join(d, 'dev.json'), JSON.stringify(questions, null, 2));
  return join(d, 'dev.json');
}

test('BIRD: the schema prefix is byte-identical within a database; output = gold SQL tokens', async () => {
  const p = birdFiles('bird');
  assert.equal(detectFormat(p).name, 'bird');
  const rs = await read(p);
  assert.equal(rs.length, 3);
  const [a, z, b] = rs;
  assert.equal(a.id, 'bird-0');
  const schemaEnd = (a.text as string).indexOf('Question:');
  const schemaA = (a.text as string).slice(0, schemaEnd);
  assert.ok((b.text as string).startsWith(schemaA), 'same database → same schema text');
  assert.match(schemaA, /CREATE TABLE `orders` \(\n {2}`id` INTEGER PRIMARY KEY,\n {2}`customer_id` INTEGER REFERENCES `customers`\(`id`\),\n {2}`total` REAL -- Order total in EUR\.\n\);/);
  assert.match(b.text as string, /External knowledge: largest = max total\nQuestion: Largest order\?\nSQL:$/);
  assert.ok(!(z.text as string).includes('customers'));
  const ia = Array.from((a.prefix as { ids: ArrayLike<number> }).ids);
  const ib = Array.from((b.prefix as { ids: ArrayLike<number> }).ids);
  let common = 0;
  while (ia[common] === ib[common]) common++;
  assert.ok(common >= encodePrompt(schemaA).length - 1, `shared ${common} tokens`);
  // Encoding apart equals encoding whole: the ids are those of the full prompt text.
  assert.deepEqual(ib, Array.from(encodePrompt(b.text as string)));
  assert.equal(b.outputTokens, encodeText('SELECT MAX(total) FROM orders').length + 1);
});

test('BIRD: an unknown db_id and a missing schema file are user errors', async () => {
  const p = birdFiles('bird2');
  writeFileSync(p, JSON.stringify([{ question_id: 0, db_id: 'nope', question: 'q', evidence: '', SQL: 'x' }]));
  await rejects(p, 'bird', /dev\.json:1: record 0, field "db_id": "nope" is not in .*dev_tables\.json/);
  rmSync(join(dir, 'bird2', 'dev_tables.json'));
  await rejects(p, 'bird', /need their schema file .*dev_tables\.json/);
});

test('Mooncake: hash_ids become 512-token blocks; requests sharing a millisecond are spread over it', async () => {
  const p = file('mc.jsonl', [
    '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}',
    '{"timestamp": 0, "input_length": 512, "output_length": 0, "hash_ids": [0]}',
    '{"timestamp": 0, "input_length": 10, "output_length": 3, "hash_ids": [7]}',
    '{"timestamp": 40, "input_length": 1024, "output_length": 9, "hash_ids": [0, 2]}',
  ].join('\n'));
  assert.equal(detectFormat(p).name, 'mooncake');
  const rs = await read(p);
  assert.deepEqual(rs.map((r) => r.arrivalS), [0, 0.001 / 3, 0.002 / 3, 0.04]);
  assert.deepEqual(rs[0].prefix && { kind: rs[0].prefix.kind, ids: Array.from(rs[0].prefix.kind === 'blocks' ? rs[0].prefix.hashIds : []) }, { kind: 'blocks', ids: [0, 1] });
  assert.equal(rs[0].prefix?.kind === 'blocks' && rs[0].prefix.blockTokens, 512);
  assert.equal(rs[1].outputTokens, 1);
  const bad = file('bad-mc.jsonl', '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}\n{"timestamp": 1, "input_length": 1200, "output_length": 5, "hash_ids": [0]}\n');
  await rejects(bad, 'mooncake', /bad-mc\.jsonl:2: field "hash_ids": 1 blocks, but "input_length" 1200 needs 3 blocks/);
});

test('Azure CSV: 7-digit fractions, arrivals relative to the first row, no trailing newline', async () => {
  assert.deepEqual(parseAzureTimestamp('2023-11-16 18:15:46.6805900'), { s: Date.UTC(2023, 10, 16, 18, 15, 46) / 1000, frac: 0.68059 });
  const p = file('az.csv', 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n2023-11-16 18:16:00.0000001,5,0');
  assert.equal(detectFormat(p).name, 'azure');
  const rs = await read(p);
  assert.equal(rs.length, 3);
  assert.equal(rs[0].arrivalS, 0);
  assert.ok(Math.abs(rs[1].arrivalS - 4.314579) < 1e-9, String(rs[1].arrivalS));
  assert.ok(Math.abs(rs[2].arrivalS - 13.3194101) < 1e-9, String(rs[2].arrivalS));
  assert.deepEqual(rs.map((r) => [r.inputTokens, r.outputTokens]), [[374, 44], [396, 109], [5, 1]]);
  const bad = file('bad-az.csv', 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.1,abc,3\n');
  await rejects(bad, 'azure', /bad-az\.csv:3: field "ContextTokens": expected an integer >= 0, got "abc"/);
  const badTime = file('bad-az2.csv', 'TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,374,44\n');
  await rejects(badTime, undefined, /bad-az2\.csv:2: field "TIMESTAMP"/);
});

test('BurstGPT CSV: seconds timestamps, request/response tokens', async () => {
  const p = file('bg.csv', 'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,0,1087,API log\n');
  assert.equal(detectFormat(p).name, 'burstgpt');
  const rs = await read(p);
  assert.deepEqual(rs.map((r) => [r.arrivalS, r.inputTokens, r.outputTokens]), [[0, 472, 18], [40, 1087, 1]]);
});

test('AIBrix workload JSONL: requests of one line share its timestamp; prompt text gives token ids', async () => {
  const p = file('ab.jsonl', [
    '{"timestamp": 19, "requests": [{"prompt": "Hello world", "prompt_length": 3, "output_length": 8, "session_id": "s1"}, {"prompt": "Bye", "output_length": 2}]}',
    '{"timestamp": 1000, "requests": [{"Prompt Length": 40, "Output Length": 4}]}',
  ].join('\n'));
  assert.equal(detectFormat(p).name, 'aibrix');
  const rs = await read(p);
  assert.deepEqual(rs.map((r) => [r.arrivalS, r.inputTokens, r.outputTokens, r.sessionId]), [[0.019, 3, 8, 's1'], [0.019, encodeText('Bye').length, 2, undefined], [1, 40, 4, undefined]]);
  assert.deepEqual(Array.from((rs[0].prefix as { ids: ArrayLike<number> }).ids), Array.from(encodeText('Hello world')));
  const bad = file('bad-ab.jsonl', '{"timestamp": 19, "requests": [{"prompt_length": 3}]}');
  await rejects(bad, 'aibrix', /bad-ab\.jsonl:1: field "output_length": expected an integer >= 0/);
});

test('detection: every format by content; an unknown file is a user error', () => {
  const n = file('native.jsonl', '{"arrival_s": 0, "input_tokens": 3, "output_tokens": 2}\n');
  assert.equal(detectFormat(n).name, 'jsonl');
  const v = file('bench.jsonl', '{"input_toks": 3, "output_toks": 2, "arrival_time_ns": 0}\n');
  assert.equal(detectFormat(v).name, 'vllm-bench');
  const u = file('x.txt', 'hello\n');
  assert.throws(() => detectFormat(u), /x\.txt: unrecognised trace format/);
  assert.throws(() => detectFormat(u, 'nope'), /--format nope: unknown trace format/);
});
