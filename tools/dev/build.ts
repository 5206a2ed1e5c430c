import { step } from './processes.ts';

/** Builds every app and library (SWC) into its dist/ folder. */
export function build(): void {
  step('build', 'nx', ['run-many', '-t', 'build', '--outputStyle=dynamic-legacy']);
}

if (import.meta.main) build();
