import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { setUpRun } = await tsImport('./run-lifecycle.ts', import.meta.url);
  await setUpRun();
}
