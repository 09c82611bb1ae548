import { expect, type Page } from '@playwright/test';

export const PASSWORD = 'correct horse battery';

/** Waits until the wasm has hydrated the page, so clicks reach Leptos, not a bare form. */
export async function hydrated(page: Page) {
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
}

/** Signs in through the real form, starting from a protected page. */
export async function signIn(page: Page, user = 'admin', password = PASSWORD) {
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in\?next=%2F$|\/sign-in\?next=\/$/);
  await hydrated(page);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
}

/** Collects console errors (a CSP violation or a failed hydration shows up here). */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

export type Weight = { total: number; byType: Record<string, number> };

/** Counts the bytes on the wire (headers and compressed bodies) of everything the page loads. */
export async function meter(page: Page): Promise<() => Weight> {
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

/** A page of every route of the console (detail pages on the demo data's objects). */
export const CONSOLE_PAGES = ['/', '/boot-images', '/boot-images/add', '/boot-images/1', '/os-images',
  '/os-images/add', '/os-images/3', '/drivers', '/drivers/1', '/jobs', '/jobs/schedules', '/jobs/1',
  '/security/users', '/security/roles', '/security/scopes', '/security/audit', '/account'];
