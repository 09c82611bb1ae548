// The release bundle's weight on the wire, as issue 15 set it: a first visit (the sign-in page,
// or the dashboard once signed in) transfers at most 250 KB in all, and the whole console's
// code, fetched page by page, at most 800 KB. The suite runs on the split release bundle, so
// these hold for what users get; docs/benchmarks.md has the measured figures and their
// benchmark. Bytes do not depend on the screen, so the desktop project alone checks them.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { CONSOLE_PAGES, consoleErrors, hydrated, meter, signIn } from './helpers';

const KB = 1024;

test.skip(({ isMobile }) => isMobile, 'bytes on the wire do not depend on the screen');

/** A fresh context (nothing cached), signed in when `state` is given. */
async function freshPage(browser: Browser, state?: Awaited<ReturnType<typeof signedInState>>) {
  const context = await browser.newContext(state ? { storageState: state } : {});
  return context.newPage();
}

async function signedInState(browser: Browser) {
  const page = await freshPage(browser);
  await signIn(page);
  const state = await page.context().storageState();
  await page.context().close();
  return state;
}

async function visit(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
  await page.waitForLoadState('networkidle');
}

test('a first visit transfers at most 250 KB', async ({ browser }) => {
  for (const [path, state] of [['/sign-in', undefined], ['/', await signedInState(browser)]] as const) {
    const page = await freshPage(browser, state);
    const errors = consoleErrors(page);
    const weight = await meter(page);
    await visit(page, path);
    await expect(page).toHaveURL(new RegExp(`${path.replace('/', '\\/')}$`));
    const w = weight();
    test.info().annotations.push({ type: `first visit ${path}`, description: JSON.stringify(w) });
    expect(w.total, `${path}: ${JSON.stringify(w.byType)}`).toBeLessThanOrEqual(250 * KB);
    expect(errors).toEqual([]);
    await page.context().close();
  }
});

test('the whole console, page by page, fetches at most 800 KB of code', async ({ browser }) => {
  const page = await freshPage(browser, await signedInState(browser));
  // The demo data has no driver yet when this runs, so `/drivers/1` answers 404 (its page, in
  // the console chunk, says the driver does not exist); every file of the bundle must load.
  const errors = consoleErrors(page);
  const weight = await meter(page);
  const wasmFiles = new Set<string>();
  const failedFiles: string[] = [];
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/pkg/') && r.status() >= 400) failedFiles.push(`${r.status()} ${url}`);
    if (url.pathname.endsWith('.wasm')) wasmFiles.add(url.pathname);
  });
  for (const path of CONSOLE_PAGES) await visit(page, path);
  const w = weight();
  const code = (w.byType.wasm ?? 0) + (w.byType.script ?? 0) + (w.byType.stylesheet ?? 0);
  test.info().annotations.push({ type: 'whole console', description: JSON.stringify(w) });
  expect(code, JSON.stringify(w.byType)).toBeLessThanOrEqual(800 * KB);
  // The areas arrive as their own modules, each once.
  expect(wasmFiles.size).toBeGreaterThan(1);
  expect(failedFiles).toEqual([]);
  expect(errors.filter((e) => !/status of 404/.test(e))).toEqual([]);
  await page.context().close();
});
