/** `--name VALUE` from the command line, else the default (benchmarks take a few numeric knobs). */
export function numberArg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
