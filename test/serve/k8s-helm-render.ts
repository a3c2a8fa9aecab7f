import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/**
 * Renders a Helm chart's templates the way `helm template` does, for the subset of Helm's
 * template language the router chart uses (helm itself cannot be installed here): Go
 * text/template actions with `{{-`/`-}}` trimming and comments, `if`/`else`/`with`/`define`/
 * `end`, pipelines, `.Values`/`.Release`/`.Chart`/`$`, and the functions include, toYaml,
 * nindent, indent, quote, default, trunc, trimSuffix, printf, add. Anything else is an error,
 * so the chart cannot quietly depend on something this renderer gets wrong. Stricter than helm
 * in one way: printing a missing value is an error instead of an empty string.
 */

type Node =
  | { t: 'text'; s: string }
  | { t: 'out'; p: Pipeline }
  | { t: 'if' | 'with'; p: Pipeline; then: Node[]; else: Node[] }
  | { t: 'define'; name: string; body: Node[] };

type Arg = { t: 'field'; root: '.' | '$'; path: string[] } | { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'bool'; v: boolean } | { t: 'ident'; name: string } | { t: 'sub'; p: Pipeline };
type Pipeline = Arg[][];

interface Scope {
  dot: unknown;
  root: unknown;
}

class TemplateError extends Error {}

function lex(src: string, file: string): (string | { action: string })[] {
  const out: (string | { action: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push(src.slice(i));
      break;
    }
    let text = src.slice(i, open);
    let j = open + 2;
    if (src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      j++;
    }
    const close = src.indexOf('}}', j);
    if (close < 0) throw new TemplateError(`${file}: unclosed action at offset ${open}`);
    let body = src.slice(j, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    out.push(text);
    const action = body.trim();
    if (!(action.startsWith('/*') && action.endsWith('*/'))) out.push({ action });
    i = next;
  }
  return out;
}

function tokenize(action: string): string[] {
  const toks: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|\(|\)|\||[^\s()|]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(action)) !== null) toks.push(m[1]);
  if (toks.join('').replace(/\s/g, '') !== action.replace(/\s/g, '')) throw new TemplateError(`cannot tokenize {{ ${action} }}`);
  return toks;
}

function parsePipeline(toks: string[], pos = { i: 0 }, closing?: string): Pipeline {
  const cmds: Arg[][] = [[]];
  while (pos.i < toks.length) {
    const t = toks[pos.i++];
    if (t === closing) return cmds;
    if (t === '|') {
      cmds.push([]);
      continue;
    }
    const cmd = cmds[cmds.length - 1];
    if (t === '(') cmd.push({ t: 'sub', p: parsePipeline(toks, pos, ')') });
    else if (t.startsWith('"')) cmd.push({ t: 'str', v: JSON.parse(t) as string });
    else if (/^-?\d+(\.\d+)?$/.test(t)) cmd.push({ t: 'num', v: Number(t) });
    else if (t === 'true' || t === 'false') cmd.push({ t: 'bool', v: t === 'true' });
    else if (t === '.') cmd.push({ t: 'field', root: '.', path: [] });
    else if (t.startsWith('.')) cmd.push({ t: 'field', root: '.', path: t.slice(1).split('.') });
    else if (t === '$') cmd.push({ t: 'field', root: '$', path: [] });
    else if (t.startsWith('$.')) cmd.push({ t: 'field', root: '$', path: t.slice(2).split('.') });
    else if (/^[A-Za-z]\w*$/.test(t)) cmd.push({ t: 'ident', name: t });
    else throw new TemplateError(`unsupported token "${t}"`);
  }
  if (closing) throw new TemplateError(`missing "${closing}"`);
  if (cmds.some((c) => c.length === 0)) throw new TemplateError('empty command in pipeline');
  return cmds;
}

function parse(src: string, file: string): Node[] {
  const items = lex(src, file);
  let k = 0;
  const block = (stopAt: Set<string>): { nodes: Node[]; stop?: string } => {
    const nodes: Node[] = [];
    while (k < items.length) {
      const it = items[k++];
      if (typeof it === 'string') {
        if (it) nodes.push({ t: 'text', s: it });
        continue;
      }
      const a = it.action;
      const word = /^\w+/.exec(a)?.[0];
      if (word && stopAt.has(word) && (a === word || word === 'else')) return { nodes, stop: word };
      if (word === 'if' || word === 'with') {
        const p = parsePipeline(tokenize(a.slice(word.length).trim()));
        const then = block(new Set(['else', 'end']));
        let els: Node[] = [];
        if (then.stop === 'else') {
          if (items[k - 1] && typeof items[k - 1] !== 'string' && (items[k - 1] as { action: string }).action !== 'else') throw new TemplateError(`${file}: "else if" is not supported`);
          const e = block(new Set(['end']));
          if (e.stop !== 'end') throw new TemplateError(`${file}: ${word} without end`);
          els = e.nodes;
        } else if (then.stop !== 'end') throw new TemplateError(`${file}: ${word} without end`);
        nodes.push({ t: word, p, then: then.nodes, else: els });
      } else if (word === 'define') {
        const name = JSON.parse(a.slice('define'.length).trim()) as string;
        const body = block(new Set(['end']));
        if (body.stop !== 'end') throw new TemplateError(`${file}: define without end`);
        nodes.push({ t: 'define', name, body: body.nodes });
      } else if (word === 'end' || word === 'else' || word === 'range' || word === 'template' || word === 'block') {
        throw new TemplateError(`${file}: unexpected or unsupported {{ ${a} }}`);
      } else {
        nodes.push({ t: 'out', p: parsePipeline(tokenize(a)) });
      }
    }
    return { nodes };
  };
  const { nodes, stop } = block(new Set());
  if (stop) throw new TemplateError(`${file}: stray ${stop}`);
  return nodes;
}

/** Go template truthiness: false, 0, nil, "" and empty collections are false. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function print(v: unknown, what: string): string {
  if (v === undefined || v === null) throw new TemplateError(`missing value: ${what}`);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`cannot print a ${Array.isArray(v) ? 'list' : 'map'} (${what}); use toYaml`);
}

/** Go's %q for the strings a chart quotes (ASCII; JSON escaping matches it there). */
const goQuote = (s: string): string => JSON.stringify(s);

/** sigs.k8s.io/yaml style (block style, no trailing newline, as helm's toYaml trims it). */
function toYaml(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  return stringifyYaml(v, { lineWidth: 0 }).replace(/\n$/, '');
}

export class Chart {
  private readonly defines = new Map<string, Node[]>();
  private readonly templates: { name: string; nodes: Node[] }[] = [];
  readonly meta: Record<string, unknown>;
  readonly defaults: Record<string, unknown>;

  constructor(readonly dir: string) {
    this.meta = parseYaml(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    this.defaults = parseYaml(readFileSync(join(dir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    for (const f of readdirSync(join(dir, 'templates')).sort()) {
      const nodes = parse(readFileSync(join(dir, 'templates', f), 'utf8'), f);
      for (const n of nodes) if (n.t === 'define') this.defines.set(n.name, n.body);
      if (!f.startsWith('_') && /\.ya?ml$/.test(f)) this.templates.push({ name: f, nodes: nodes.filter((n) => n.t !== 'define') });
    }
  }

  /** `helm template RELEASE dir --namespace NS -f overrides`: file name → rendered text. */
  render(release: { name: string; namespace: string }, overrides: Record<string, unknown> = {}): Map<string, string> {
    const root = {
      Values: deepMerge(structuredClone(this.defaults), overrides),
      Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
      Chart: { Name: this.meta.name, Version: this.meta.version, AppVersion: this.meta.appVersion },
    };
    const out = new Map<string, string>();
    for (const t of this.templates) {
      try {
        out.set(t.name, this.exec(t.nodes, { dot: root, root }));
      } catch (err) {
        throw new TemplateError(`${t.name}: ${(err as Error).message}`);
      }
    }
    return out;
  }

  private exec(nodes: Node[], s: Scope): string {
    let out = '';
    for (const n of nodes) {
      if (n.t === 'text') out += n.s;
      else if (n.t === 'out') out += print(this.pipeline(n.p, s), 'output');
      else if (n.t === 'if') out += this.exec(truthy(this.pipeline(n.p, s)) ? n.then : n.else, s);
      else if (n.t === 'with') {
        const v = this.pipeline(n.p, s);
        out += truthy(v) ? this.exec(n.then, { dot: v, root: s.root }) : this.exec(n.else, s);
      }
    }
    return out;
  }

  private pipeline(p: Pipeline, s: Scope): unknown {
    let piped: { v: unknown } | undefined;
    for (const cmd of p) piped = { v: this.command(cmd, s, piped) };
    return piped!.v;
  }

  private command(cmd: Arg[], s: Scope, piped?: { v: unknown }): unknown {
    const [head, ...rest] = cmd;
    if (head.t !== 'ident') {
      if (rest.length > 0 || piped) throw new TemplateError('a value cannot take arguments');
      return this.arg(head, s);
    }
    const args = rest.map((a) => this.arg(a, s));
    if (piped) args.push(piped.v);
    return this.call(head.name, args);
  }

  private arg(a: Arg, s: Scope): unknown {
    switch (a.t) {
      case 'str':
      case 'num':
      case 'bool':
        return a.v;
      case 'sub':
        return this.pipeline(a.p, s);
      case 'ident':
        return this.call(a.name, []);
      case 'field': {
        let v: unknown = a.root === '$' ? s.root : s.dot;
        for (const k of a.path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
        return v;
      }
    }
  }

  private call(name: string, args: unknown[]): unknown {
    const str = (v: unknown): string => print(v, `argument of ${name}`);
    switch (name) {
      case 'include': {
        const body = this.defines.get(str(args[0]));
        if (!body) throw new TemplateError(`include: no template "${String(args[0])}"`);
        return this.exec(body, { dot: args[1], root: args[1] });
      }
      case 'toYaml':
        return toYaml(args[0]);
      case 'nindent':
        return `\n${indent(Number(args[0]), str(args[1]))}`;
      case 'indent':
        return indent(Number(args[0]), str(args[1]));
      case 'quote':
        return args.map((v) => goQuote(v === undefined || v === null ? '' : str(v))).join(' ');
      case 'default':
        return truthy(args[1]) ? args[1] : args[0];
      case 'trunc':
        return str(args[1]).slice(0, Number(args[0]));
      case 'trimSuffix': {
        const suffix = str(args[0]);
        const v = str(args[1]);
        return suffix && v.endsWith(suffix) ? v.slice(0, -suffix.length) : v;
      }
      case 'printf': {
        let i = 1;
        return str(args[0]).replace(/%[sdv]/g, () => str(args[i++]));
      }
      case 'add':
        return args.reduce<number>((sum, v) => sum + Math.trunc(Number(v)), 0);
      default:
        throw new TemplateError(`unsupported function "${name}"`);
    }
  }
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

/** helm's values merge: maps merge key by key, anything else replaces. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)) deepMerge(b as Record<string, unknown>, v as Record<string, unknown>);
    else base[k] = v;
  }
  return base;
}
