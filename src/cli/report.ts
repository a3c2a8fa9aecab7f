import type { Command } from 'commander';
export function registerReport(_p: Command): void {}
