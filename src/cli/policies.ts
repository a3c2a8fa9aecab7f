import type { Command } from 'commander';
import { policyFactories } from '../routing/registry.js';
import { runAction } from './errors.js';

export function registerPolicies(program: Command): void {
  program
    .command('policies')
    .description('List the routing policies with their options and defaults')
    .action(() =>
      runAction(() => {
        const lines: string[] = [];
        for (const f of policyFactories()) {
          lines.push(`${f.name.padEnd(18)} ${f.description}`);
          for (const o of f.options) lines.push(`${''.padEnd(20)}${o.name}=${String(o.default)} (${o.type}) ${o.description}`);
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
