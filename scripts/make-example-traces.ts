/**
 * Writes the small example traces in traces/ — one per format the readers accept — from text and
 * numbers made up here (no third-party data), so every reader can be tried without downloads.
 * Run: npm run build && node dist/scripts/make-example-traces.js
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { childRng, exponential } from '../src/util/rng.js';
import { sampleLength } from '../src/workload/synthetic.js';
import { synthRequests } from '../src/workload/synth.js';
import { formatNativeLine } from '../src/workload/native-jsonl.js';

const dir = join(PACKAGE_ROOT, 'traces');
const write = (name: string, content: string): void => {
  writeFileAtomic(join(dir, name), content);
  process.stdout.write(`wrote traces/${name}\n`);
};

// ShareGPT: single- and multi-turn chats, one record that starts with the assistant (skipped in
// single-turn mode, as in vLLM's benchmark) and one with a system turn.
const chats: [string, [string, string][]][] = [
  ['chat-001', [['human', 'What is the difference between a process and a thread?'], ['gpt', 'A process has its own address space and resources; a thread is a unit of execution inside a process and shares its memory with the other threads of that process. Switching between threads is cheaper, but a bug in one thread can corrupt the state of all of them.']]],
  ['chat-002', [['human', 'Write a haiku about autumn rain.'], ['gpt', 'Cold drops on the roof\nmaple leaves drift in the gutter\nthe kettle hums on'], ['human', 'Now one about spring.'], ['gpt', 'Thaw under the eaves\na blackbird tests the morning\nmud on every boot'], ['human', 'Which of the two do you prefer, and why?'], ['gpt', 'The autumn one: the kettle turns the cold outside into a small warm scene indoors, which gives the poem a turn at the end.']]],
  ['chat-003', [['gpt', 'Continuing from before: the second step is to normalise the table so every fact is stored once.'], ['human', 'Thanks, what is the third step?']]],
  ['chat-004', [['system', 'You answer in one sentence.'], ['human', 'Why is the sky blue?'], ['gpt', 'Air molecules scatter short blue wavelengths of sunlight much more than long red ones, so blue light reaches your eyes from every direction of the sky.']]],
  ['chat-005', [['human', 'Convert 72 degrees Fahrenheit to Celsius and show the formula.'], ['gpt', 'C = (F - 32) × 5/9, so (72 - 32) × 5/9 = 22.2 °C.'], ['human', 'And 0 °C in Fahrenheit?'], ['gpt', 'F = C × 9/5 + 32 = 32 °F.']]],
  ['chat-006', [['human', 'Suggest three names for a grey cat.'], ['gpt', 'Ash, Pebble and Smokey.']]],
];
write('sharegpt.json', `${JSON.stringify(chats.map(([id, turns]) => ({ id, conversations: turns.map(([from, value]) => ({ from, value })) })), null, 1)}\n`);

// BIRD: one small made-up database with column descriptions, five questions.
const tables = [
  {
    db_id: 'library',
    table_names_original: ['authors', 'books', 'loans'],
    table_names: ['authors', 'books', 'loans'],
    column_names_original: [[-1, '*'], [0, 'author_id'], [0, 'name'], [0, 'born'], [1, 'book_id'], [1, 'title'], [1, 'author_id'], [1, 'year'], [2, 'loan_id'], [2, 'book_id'], [2, 'loaned_on'], [2, 'returned_on']],
    column_names: [[-1, '*'], [0, 'author id'], [0, 'name'], [0, 'born'], [1, 'book id'], [1, 'title'], [1, 'author id'], [1, 'year'], [2, 'loan id'], [2, 'book id'], [2, 'loaned on'], [2, 'returned on']],
    column_types: ['text', 'integer', 'text', 'integer', 'integer', 'text', 'integer', 'integer', 'integer', 'integer', 'date', 'date'],
    primary_keys: [1, 4, 8],
    foreign_keys: [[6, 1], [9, 4]],
  },
];
const meanings = {
  'library|authors|born': "# 'Year the author was born.'",
  'library|books|year': '#Year of first publication.',
  'library|loans|returned_on': "# 'Date the book came back; NULL while it is still out.'",
};
const questions = [
  ['How many books are in the library?', '', 'SELECT COUNT(*) FROM books'],
  ['Which author wrote the most books?', '', 'SELECT a.name FROM authors a JOIN books b ON a.author_id = b.author_id GROUP BY a.author_id ORDER BY COUNT(*) DESC LIMIT 1'],
  ['List the titles of books that are still on loan.', 'still on loan refers to returned_on IS NULL', 'SELECT b.title FROM books b JOIN loans l ON b.book_id = l.book_id WHERE l.returned_on IS NULL'],
  ['What is the oldest book?', 'oldest refers to MIN(year)', 'SELECT title FROM books ORDER BY year ASC LIMIT 1'],
  ['How many authors were born before 1900?', 'born before 1900 refers to born < 1900', 'SELECT COUNT(*) FROM authors WHERE born < 1900'],
].map(([question, evidence, SQL], i) => ({ question_id: i, db_id: 'library', question, evidence, SQL, difficulty: 'simple' }));
write('bird/dev.json', `${JSON.stringify(questions, null, 1)}\n`);
write('bird/dev_tables.json', `${JSON.stringify(tables, null, 1)}\n`);
write('bird/column_meaning.json', `${JSON.stringify(meanings, null, 1)}\n`);

// Mooncake: 512-token blocks, two conversations growing their shared prefix, integer ms timestamps
// with a repeated one (spread by the reader).
const mc = childRng(1, 'mooncake');
const mooncake: string[] = [];
let ms = 0;
let nextBlock = 100;
const convBlocks: number[][] = [[0, 1, 2], [50, 51]];
for (let i = 0; i < 12; i++) {
  if (i !== 5) ms += Math.round(exponential(mc, 1 / 700));
  const conv = convBlocks[i % 2];
  conv.push(nextBlock++);
  const input = (conv.length - 1) * 512 + 1 + mc.int(511);
  mooncake.push(JSON.stringify({ timestamp: ms, input_length: input, output_length: 20 + mc.int(300), hash_ids: [...conv] }));
}
write('mooncake.jsonl', `${mooncake.join('\n')}\n`);

// Azure (Splitwise) CSV: 7 fractional digits, no trailing newline, as the published files.
const az = childRng(1, 'azure');
const start = Date.UTC(2023, 10, 16, 18, 15, 46);
let tAz = 0;
const azure = ['TIMESTAMP,ContextTokens,GeneratedTokens'];
for (let i = 0; i < 20; i++) {
  tAz += exponential(az, 5.5);
  const d = new Date(start + Math.floor(tAz * 1000));
  const frac = String(Math.round((tAz % 1) * 1e7) % 1e7).padStart(7, '0');
  const stamp = `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}.${frac}`;
  azure.push(`${stamp},${sampleLength(az, { kind: 'lognormal', mean: 1155, sigma: 0.9, min: 2, max: 8000 })},${sampleLength(az, { kind: 'lognormal', mean: 211, sigma: 0.8, min: 7, max: 2000 })}`);
}
write('azure.csv', azure.join('\n'));

// BurstGPT CSV: seconds, model, request/response/total tokens, log type; one failed request (0 response tokens).
const bg = childRng(1, 'burstgpt');
const burst = ['Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type'];
let tBg = 5;
for (let i = 0; i < 15; i++) {
  tBg += Math.round(exponential(bg, 0.5));
  const req = sampleLength(bg, { kind: 'lognormal', mean: 600, sigma: 1, min: 1, max: 8000 });
  const resp = i === 7 ? 0 : sampleLength(bg, { kind: 'lognormal', mean: 250, sigma: 0.8, min: 1, max: 2000 });
  burst.push(`${tBg},${i % 3 === 0 ? 'GPT-4' : 'ChatGPT'},${req},${resp},${req + resp},${i % 4 === 0 ? 'API log' : 'Conversation log'}`);
}
write('burstgpt.csv', `${burst.join('\n')}\n`);

// AIBrix workload JSONL: logical timestamps in ms, several requests per line, a two-turn session.
const aibrix = [
  { timestamp: 0, requests: [{ prompt: 'Summarise the plot of a heist film in two sentences.', prompt_length: 12, output_length: 60, session_id: 's-1' }] },
  { timestamp: 250, requests: [{ prompt: 'Translate "good morning" into French and Spanish.', prompt_length: 12, output_length: 16 }, { prompt: 'Give me a regular expression for an ISO date.', prompt_length: 11, output_length: 40 }] },
  { timestamp: 900, requests: [{ prompt: 'Summarise the plot of a heist film in two sentences. Now make it a comedy.', prompt_length: 18, output_length: 70, session_id: 's-1' }] },
  { timestamp: 1400, requests: [{ 'Prompt Length': 300, 'Output Length': 120 }] },
];
write('aibrix.jsonl', `${aibrix.map((l) => JSON.stringify(l)).join('\n')}\n`);

// vLLM-benchmark JSONL (as LLMServingSim records it): token ids, nanosecond arrivals; two share a prefix.
const vb = childRng(1, 'vllm-bench');
const shared = Array.from({ length: 24 }, () => vb.int(128000));
const bench: string[] = [];
let ns = 0;
for (let i = 0; i < 6; i++) {
  ns += Math.round(exponential(vb, 10) * 1e9);
  const own = Array.from({ length: 4 + vb.int(20) }, () => vb.int(128000));
  const ids = i % 2 === 0 ? [...shared, ...own] : own;
  bench.push(JSON.stringify({ input_toks: ids.length, output_toks: 5 + vb.int(60), arrival_time_ns: ns, input_tok_ids: ids }));
}
write('vllm-bench.jsonl', `${bench.join('\n')}\n`);

// Shared-prefix groups as SGLang's generated-shared-prefix benchmark (what `router trace synth --groups` writes).
const gsp = [...synthRequests({ seed: 1, process: 'poisson', rateRps: 8, burstiness: 1, count: 0, input: { kind: 'fixed', mean: 1 }, output: { kind: 'fixed', mean: 32 }, sharedPrefix: { groups: 2, promptsPerGroup: 4, systemPromptTokens: 48, questionTokens: 8 } })];
write('shared-prefix.jsonl', `${gsp.map((r) => formatNativeLine(r)).join('\n')}\n`);
