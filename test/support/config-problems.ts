import { ConfigValidationError, parseEnv } from '../../src/config/app-config.js';

/** What the configuration loader says is wrong with `env` ([] when it is accepted). */
export function configProblems(env: Record<string, string | undefined>): string[] {
  try {
    parseEnv(env);
    return [];
  } catch (e) {
    if (e instanceof ConfigValidationError) return e.problems;
    throw e;
  }
}
