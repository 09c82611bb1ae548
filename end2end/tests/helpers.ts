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
  '/distribution-points', '/distribution-points/1', '/distribution',
  '/security/users', '/security/roles', '/security/scopes', '/security/audit', '/account'];

/** A boot image's tabs (`?tab=`), as its page offers them. */
export const BOOT_TABS = ['general', 'customization', 'drivers', 'images', 'components', 'source', 'revisions', 'distribution', 'security'];

/** Opens a tab of the boot image whose page is open. */
export async function openTab(page: Page, name: string) {
  await page.getByRole('navigation', { name: 'Boot image tabs' }).getByRole('link', { name, exact: true }).click();
  await expect(page).toHaveURL(/\?tab=/);
}

/**
 * Fills the Add page's WIM path and reads the file until its images are listed. Retried: on a
 * loaded machine the path field was seen empty when the button was pressed right after
 * hydration (a late render of the form; cause not found yet, see the issue notes).
 */
export async function readWim(page: Page, path: string, expected: string) {
  await expect(async () => {
    await page.getByLabel('Path of the WIM file').fill(path);
    await expect(page.getByLabel('Path of the WIM file')).toHaveValue(path);
    await page.getByRole('button', { name: 'Read the file' }).click();
    await expect(page.getByRole('table', { name: 'Images in the file' })).toContainText(expected, { timeout: 5_000 });
  }).toPass({ timeout: 30_000 });
}

/** Adds a boot image from the demo sources (`boot_amd64.wim` unless told) and returns its page's path. */
export async function addBootImage(page: Page, name: string, file = 'boot_amd64.wim'): Promise<string> {
  await page.goto('/boot-images/add');
  await hydrated(page);
  await readWim(page, `\\\\wimdeck\\sources\\${file}`, 'Windows PE 10');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Add boot image' }).click();
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 30_000 });
  await page.getByRole('link', { name: 'Open the image' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name })).toBeVisible();
  return new URL(page.url()).pathname;
}

/** Waits for the job page the console went to, until the job succeeded. */
export async function jobSucceeds(page: Page) {
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await expect(page.locator('.page-head .badge')).toHaveText('Succeeded', { timeout: 60_000 });
}
