// Bytes each page transfers (first visit, cold cache), what repeat visits cost once the bundle
// is cached, and how long after its HTML each page is interactive on a Pixel 5 profile with
// 4x CPU throttling, on a first visit and on a returning one. Run with
// scripts/bench-page-weight.sh; figures go to docs/benchmarks.md.
import { test, devices, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import { CONSOLE_PAGES, meter } from '../tests/helpers';
import { HYDRATION_PROBE, signedIn } from './common';

async function interactiveAfterHtml(page: Page): Promise<number> {
  await page.waitForFunction(() => (window as unknown as { __hydratedAt?: number }).__hydratedAt);
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return (window as unknown as { __hydratedAt: number }).__hydratedAt - nav.responseEnd;
  });
}

const PAGES = CONSOLE_PAGES;

test('page weight and time to interactive', async ({ browser }) => {
  test.setTimeout(600_000);
  const report: Record<string, unknown> = {};
  const kb = (n: number) => Math.round(n / 102.4) / 10;

  // First visit to the sign-in page: nothing cached.
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    const weight = await meter(page);
    await page.goto('/sign-in');
    await page.waitForSelector('.app[data-hydrated="true"]');
    await page.waitForLoadState('networkidle');
    const w = weight();
    report['first visit: /sign-in'] = { kb: kb(w.total), byType: Object.fromEntries(Object.entries(w.byType).map(([k, v]) => [k, kb(v)])) };
    await context.close();
  }

  const state = await signedIn(await browser.newContext());
  // Each page as a first visit (cold cache, signed in).
  for (const path of PAGES) {
    const context = await browser.newContext({ storageState: state });
    const page = await context.newPage();
    const weight = await meter(page);
    await page.goto(path);
    await page.waitForSelector('.app[data-hydrated="true"]');
    await page.waitForLoadState('networkidle');
    report[`first visit: ${path}`] = { kb: kb(weight().total) };
    await context.close();
  }

  // Eight full page loads in one session: the bundle comes from the cache after the first.
  {
    const context = await browser.newContext({ storageState: state });
    const page = await context.newPage();
    const weight = await meter(page);
    for (const path of PAGES.slice(0, 8)) {
      await page.goto(path);
      await page.waitForSelector('.app[data-hydrated="true"]');
      await page.waitForLoadState('networkidle');
    }
    report['eight page loads in one session'] = { kb: kb(weight().total) };
    await context.close();
  }

  // Every page in one session: the whole console's code, fetched page by page.
  {
    const context = await browser.newContext({ storageState: state });
    const page = await context.newPage();
    const weight = await meter(page);
    for (const path of PAGES) {
      await page.goto(path);
      await page.waitForSelector('.app[data-hydrated="true"]');
      await page.waitForLoadState('networkidle');
    }
    const w = weight();
    const code = (w.byType['wasm'] ?? 0) + (w.byType['script'] ?? 0) + (w.byType['stylesheet'] ?? 0);
    report['every page in one session'] = { kb: kb(w.total), codeKb: kb(code) };
    await context.close();
  }

  // Time to interactive after the HTML, Pixel 5 with 4x CPU throttling; the median of 3.
  for (const path of ['/sign-in', ...PAGES]) {
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const context = await browser.newContext({ ...devices['Pixel 5'], storageState: state });
      await context.addInitScript(HYDRATION_PROBE);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
      await page.goto(path);
      samples.push(await interactiveAfterHtml(page));
      await context.close();
    }
    samples.sort((a, b) => a - b);
    report[`interactive after HTML (Pixel 5, 4x CPU): ${path}`] = { ms: Math.round(samples[1]) };
  }

  // The same for a returning user: one context, its HTTP cache warmed by an unthrottled visit
  // (Chromium also keeps the code it compiled for a streamed, cacheable wasm module); the median
  // of the three visits after it.
  for (const path of ['/sign-in', ...PAGES]) {
    const context = await browser.newContext({ ...devices['Pixel 5'], storageState: state });
    await context.addInitScript(HYDRATION_PROBE);
    const page = await context.newPage();
    await page.goto(path);
    await interactiveAfterHtml(page);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      await page.goto(path);
      samples.push(await interactiveAfterHtml(page));
    }
    await context.close();
    samples.sort((a, b) => a - b);
    report[`interactive after HTML, cached (Pixel 5, 4x CPU): ${path}`] = { ms: Math.round(samples[1]) };
  }

  const text = JSON.stringify(report, null, 2);
  console.log(text);
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/page-weight.json', text);
});
