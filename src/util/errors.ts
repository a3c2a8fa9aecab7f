/**
 * A mistake in what the user gave us (a flag, a file, a line). The CLI prints its message on one
 * line and exits with `exitCode`; it never prints a stack trace for these.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** Prefixes a location (file, line, field) onto a message so every parse error reads alike. */
export function located(file: string, line: number | undefined, message: string): UserError {
  return new UserError(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
}
