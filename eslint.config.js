// typescript-eslint strict, type-aware, over every TypeScript source the build compiles.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  {
    files: ['src/**/*.{ts,tsx}', 'test/**/*.{ts,tsx}', 'bench/**/*.{ts,tsx}', 'scripts/**/*.{ts,tsx}'],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and booleans print predictably in messages; objects and arrays stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `(x) => f(x)` for a void f is a callback, not a confused value.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Off: tsconfig lacks noUncheckedIndexedAccess, so every guard on arr[i] / record[key]
      // (the parsers' "missing field" checks, 52 of them) looks "unnecessary" and is not.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // `const { a: _a, ...rest } = o` is how a key is dropped from a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // node:test's test()/describe() return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
    },
  },
  {
    files: ['test/**/*.{ts,tsx}', 'bench/**/*.{ts,tsx}'],
    rules: {
      // A test's or benchmark's `x!` on a row it just produced fails loudly anyway (~150 sites).
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['test/**/*.{ts,tsx}'],
    rules: {
      // Test doubles stand in for class instances (a fake IncomingMessage, a policy known to be SloPolicy).
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
);
