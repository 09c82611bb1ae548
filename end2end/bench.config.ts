import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// Page-weight benchmark (scripts/bench-page-weight.sh): the release build, one worker, no
// screenshots. Never part of the test suite.
const port = Number(process.env.E2E_PORT ?? 8471);

export default defineConfig({
  ...base,
  testDir: './bench',
  outputDir: './bench-results',
  timeout: 300_000,
  reporter: [['list']],
  use: { ...base.use, baseURL: `http://127.0.0.1:${port}`, screenshot: 'off', trace: 'off' },
  projects: [{ name: 'bench' }],
  webServer: { ...base.webServer, command: `./serve.sh ${port}`, url: `http://127.0.0.1:${port}/readyz` },
});
