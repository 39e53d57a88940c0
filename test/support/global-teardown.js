import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const { tearDownRun } = await tsImport('./run-lifecycle.ts', import.meta.url);
  await tearDownRun();
}
