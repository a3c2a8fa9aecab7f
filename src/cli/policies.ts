import type { Command } from 'commander';
import { policyFactories } from '../routing/registry.js';
import { pluginDefs } from '../routing/plugins/registry.js';
import type { PluginDef } from '../routing/plugins/types.js';
import { describeOption } from '../routing/options.js';
import type { PolicyFactory, PolicyOption, ProfileSpec } from '../routing/types.js';
import { UserError } from '../util/errors.js';
import { runAction } from './errors.js';

/** A preset's profile in one line: `saturation → prefix×3 + queue×2 → max-score`. */
export function profileLine(p: ProfileSpec): string {
  const scorers = p.scorers.length === 0 ? '(no scorer)' : p.scorers.map((s) => `${s.type}×${s.weight}`).join(' + ');
  return [...p.filters.map((f) => f.type), scorers, p.picker.type].join(' → ');
}

function defaults(f: PolicyFactory): Record<string, number | boolean | string> {
  return Object.fromEntries(f.options.map((o) => [o.name, o.default]));
}

function optionJson(o: PolicyOption): Record<string, unknown> {
  return {
    name: o.name,
    type: o.type,
    default: o.default,
    ...(o.min !== undefined ? { min: o.min } : {}),
    ...(o.max !== undefined ? { max: o.max } : {}),
    ...(o.values ? { values: o.values } : {}),
    accepts: describeOption(o),
    description: o.description,
  };
}

/** Everything `router policies --json` prints: policies, then plugins, each with its option schema. */
export function policiesJson(): Record<string, unknown> {
  const plugin = (p: PluginDef): Record<string, unknown> => ({
    type: p.type,
    aliases: p.aliases ?? [],
    description: p.description,
    follows: p.follows,
    options: p.options.map(optionJson),
  });
  return {
    policies: policyFactories().map((f) => ({
      name: f.name,
      description: f.description,
      kind: f.profile ? 'preset' : 'hand-written',
      ...(f.profile ? { profile: f.profile(defaults(f)) } : {}),
      options: f.options.map(optionJson),
    })),
    filters: pluginDefs('filter').map(plugin),
    scorers: pluginDefs('scorer').map(plugin),
    pickers: pluginDefs('picker').map(plugin),
  };
}

function optionLine(o: PolicyOption): string {
  return `${''.padEnd(20)}${o.name}=${String(o.default)} (${describeOption(o)}) ${o.description}`;
}

export function policiesText(): string {
  const lines: string[] = [];
  for (const f of policyFactories()) {
    lines.push(`${f.name.padEnd(18)} ${f.description}`);
    if (f.profile) lines.push(`${''.padEnd(20)}preset: ${profileLine(f.profile(defaults(f)))}`);
    for (const o of f.options) lines.push(optionLine(o));
  }
  for (const kind of ['filter', 'scorer', 'picker'] as const) {
    lines.push('', `${kind}s (for --policy-config profiles):`);
    for (const p of pluginDefs(kind)) {
      lines.push(`  ${p.type.padEnd(16)} ${p.description}${p.aliases?.length ? ` (also: ${p.aliases.join(', ')})` : ''}`);
      for (const o of p.options) lines.push(optionLine(o));
    }
  }
  return `${lines.join('\n')}\n`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function optionsTable(opts: readonly PolicyOption[]): string[] {
  if (opts.length === 0) return [];
  return ['| option | default | accepts | meaning |', '|---|---|---|---|', ...opts.map((o) => `| \`${o.name}\` | \`${String(o.default)}\` | ${cell(describeOption(o))} | ${cell(o.description)} |`)];
}

/** The option reference in docs/policies.md, generated from the schemas (a test keeps it current). */
export function policiesMarkdown(): string {
  const out: string[] = ['### Policies', ''];
  for (const f of policyFactories()) {
    out.push(`#### \`${f.name}\` (${f.profile ? 'preset' : 'hand-written'})`, '', f.description, '');
    if (f.profile) out.push(`Profile: \`${profileLine(f.profile(defaults(f)))}\``, '');
    const t = optionsTable(f.options);
    if (t.length > 0) out.push(...t, '');
  }
  for (const kind of ['filter', 'scorer', 'picker'] as const) {
    out.push(`### ${kind[0].toUpperCase()}${kind.slice(1)}s`, '');
    for (const p of pluginDefs(kind)) {
      out.push(`#### \`${p.type}\`${p.aliases?.length ? ` (also ${p.aliases.map((a) => `\`${a}\``).join(', ')})` : ''}`, '', `${p.description} Follows ${p.follows}.`, '');
      const t = optionsTable(p.options);
      if (t.length > 0) out.push(...t, '');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

export function registerPolicies(program: Command): void {
  program
    .command('policies')
    .description('List the routing policies and the filter/scorer/picker plugins with their options and defaults')
    .option('--json', 'print the policies and plugins with their option schemas as JSON')
    .option('--markdown', "print the option reference of docs/policies.md")
    .action((flags: { json?: boolean; markdown?: boolean }) =>
      runAction(() => {
        if (flags.json && flags.markdown) throw new UserError('router policies: give --json or --markdown, not both');
        if (flags.json) process.stdout.write(`${JSON.stringify(policiesJson(), null, 2)}\n`);
        else if (flags.markdown) process.stdout.write(policiesMarkdown());
        else process.stdout.write(policiesText());
      }),
    );
}
