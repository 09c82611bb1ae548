// Bytes each page transfers (first visit, cold cache), what repeat visits cost once the bundle
// is cached, and how long after its HTML each page is interactive on a Pixel 5 profile with
// 4x CPU throttling. Run with scripts/bench-page-weight.sh; figures go to docs/benchmarks.md.
import { test, devices, type BrowserContext, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import { PASSWORD } from '../tests/helpers';

type Weight = { total: number; byType: Record<string, number> };

/** Counts the bytes on the wire (headers and compressed bodies) of everything the page loads. */
async function meter(page: Page): Promise<() => Weight> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const types = new Map<string, string>();
  const weight: Weight = { total: 0, byType: {} };
  cdp.on('Network.responseReceived', (e) => {
    const url: string = e.response.url;
    const type = url.endsWith('.wasm') ? 'wasm' : String(e.type).toLowerCase();
    types.set(e.requestId, type);
  });
  cdp.on('Network.loadingFinished', (e) => {
    const type = types.get(e.requestId) ?? 'other';
    weight.total += e.encodedDataLength;
    weight.byType[type] = (weight.byType[type] ?? 0) + e.encodedDataLength;
  });
  return () => ({ total: weight.total, byType: { ...weight.byType } });
}

/** Records when the app has hydrated (`data-hydrated="true"`), relative to the HTML's end. */
const HYDRATION_PROBE = () => {
  new MutationObserver((_, observer) => {
    if (document.querySelector('.app[data-hydrated="true"]')) {
      (window as unknown as { __hydratedAt: number }).__hydratedAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { subtree: true, attributes: true, childList: true });
};

async function interactiveAfterHtml(page: Page): Promise<number> {
  await page.waitForFunction(() => (window as unknown as { __hydratedAt?: number }).__hydratedAt);
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return (window as unknown as { __hydratedAt: number }).__hydratedAt - nav.responseEnd;
  });
}

async function signedIn(context: BrowserContext) {
  const page = await context.newPage();
  await page.goto('/sign-in');
  await page.waitForSelector('.app[data-hydrated="true"]');
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const state = await context.storageState();
  await page.close();
  return state;
}

const PAGES = ['/', '/boot-images', '/boot-images/1', '/os-images', '/os-images/3', '/drivers', '/jobs',
  '/security/users', '/security/audit', '/account'];

test('page weight and time to interactive', async ({ browser }) => {
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

  // Time to interactive after the HTML, Pixel 5 with 4x CPU throttling; the median of 3.
  for (const path of ['/sign-in', '/', '/boot-images', '/drivers', '/jobs']) {
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

  const text = JSON.stringify(report, null, 2);
  console.log(text);
  fs.mkdirSync('bench-results', { recursive: true });
  fs.writeFileSync('bench-results/page-weight.json', text);
});
