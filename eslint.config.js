import js from '@eslint/js';
import prettier from 'eslint-config-prettier/flat';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', '.tmp/', 'ui/dist/', 'dist/', '.dist-build-*/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      curly: ['error', 'multi-line'],
      eqeqeq: ['error', 'smart'],
      'no-console': 'error',
    },
  },
  {
    files: ['test/**', 'bench/**', 'src/cli.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests and benchmarks read JSON answers whose shape is what they assert.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  // Last, so it turns off every rule about layout, Prettier's job (curly's multi-line among them: Prettier's line breaks would trip it).
  prettier,
);
