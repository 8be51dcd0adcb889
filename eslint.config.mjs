// ESLint (flat config): `npm run lint`. typescript-eslint's recommended rules on lib/ (type-aware: lib/ is
// the one TypeScript project, tsconfig.json), ESLint's recommended rules on the JavaScript around it.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// An argument, variable or caught error named with a leading underscore is unused on purpose.
const unusedVars = ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }];

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'build-*/', 'prebuilds/', 'node_modules/', '.libtorch/', '.cache/', 'test/.cache/', 'runs/'] },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    rules: { 'no-unused-vars': unusedVars },
  },
  {
    files: ['lib/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: { '@typescript-eslint/no-unused-vars': unusedVars },
  },
);
